"""hubmatch: exact, explainable matching of Enterprise Advisers and Cornerstone Employers to schools."""

__version__ = "0.1.0"
