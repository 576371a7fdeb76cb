import sys

from hubmatch.cli import main

sys.exit(main())
