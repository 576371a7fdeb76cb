#!/usr/bin/env bash
# The termly cycle of a Careers Hub through the API with curl: import, round, solve, review, re-solve,
# publish, next term, a wave of new schools. Run from the repository after `make install`:
#   bash docs/walkthrough.sh            (uses a fresh SQLite file in a temporary folder and port 8765)
set -euo pipefail
BIN=${BIN:-.venv/bin}
WORK=$(mktemp -d)
export DATABASE_URL=${DATABASE_URL:-sqlite:///$WORK/hubmatch.sqlite}
PORT=${PORT:-8765}
API=http://127.0.0.1:$PORT
json() { "$BIN/python" -c "import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1], {'d': d}))" "$1"; }

# 1. A hub with its schools, advisers and Cornerstone Employers (the Lancashire fixture), and tokens.
"$BIN/hubmatch" fixture lancashire -o "$WORK/lancashire.json"
"$BIN/hubmatch" hub create lancashire --name "Lancashire Careers Hub" --from-problem "$WORK/lancashire.json"
LEAD=$("$BIN/hubmatch" token create --role hub_lead --hub lancashire --name "Hub Lead")
COORD=$("$BIN/hubmatch" token create --role coordinator --hub lancashire --name "EA coordinator")
"$BIN/hubmatch" serve --prod --port "$PORT" >"$WORK/server.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null; rm -rf "$WORK"' EXIT
until curl -sf "$API/health" >/dev/null; do sleep 0.2; done
L=(-H "Authorization: Bearer $LEAD" -H "Content-Type: application/json")
C=(-H "Authorization: Bearer $COORD" -H "Content-Type: application/json")

# 2. The Hub Lead creates this term's round with its policy and solves it (hub-sized: wait for the result).
ROUND=$(curl -sf "${L[@]}" -X POST "$API/hubs/lancashire/rounds" \
  -d '{"term": "2026-spring", "policy": {"max_schools_per_company": 3, "needs_require_skills": true}}' | json "d['id']")
curl -sf "${L[@]}" -X POST "$API/rounds/$ROUND/solve?wait=60" | json "(d['state'], d['result']['stats']['matched'])"

# 3. The coordinator reviews: approve one (with its ETag), reject one with a reason, lock one.
IDS=$(curl -sf "${C[@]}" "$API/rounds/$ROUND/proposals?role=adviser&per_page=3" | json "' '.join(str(p['id']) for p in d['items'])")
read -r P1 P2 P3 <<<"$IDS"
ETAG=$(curl -si "${C[@]}" "$API/proposals/$P1" | tr -d '\r' | sed -n 's/^ETag: //Ip')
curl -sf "${C[@]}" -H "If-Match: $ETAG" -X POST "$API/proposals/$P1/decision" -d '{"action": "approve"}' | json "d['state']"
curl -s "${C[@]}" -H "If-Match: $ETAG" -X POST "$API/proposals/$P1/decision" -d '{"action": "lock"}' | json "d['error']['code']"
curl -sf "${C[@]}" -X POST "$API/proposals/$P2/decision" -d '{"action": "reject", "reason": "adviser moving away"}' | json "d['state']"
curl -sf "${C[@]}" -X POST "$API/proposals/$P3/decision" -d '{"action": "lock"}' | json "d['state']"

# 4. Re-solve: decisions are honoured (approved and locked kept, the rejected pair never proposed again).
curl -sf "${L[@]}" -X POST "$API/rounds/$ROUND/solve?wait=60" | json "d['result']['stats']['kept_pairings'], d['result']['unmatched_reasons']"

# 5. Approve everything still undecided in one batch, then publish.
curl -sf "${C[@]}" "$API/rounds/$ROUND/proposals?state=proposed&per_page=1000" \
  | json "__import__('json').dumps({'decisions': [{'proposal': p['id'], 'action': 'approve', 'version': p['version']} for p in d['items']]})" \
  | curl -sf "${C[@]}" -X POST "$API/rounds/$ROUND/decisions/batch" -d @- | json "d['decided']"
curl -sf "${L[@]}" -X POST "$API/rounds/$ROUND/publish" | json "(d['state'], d['summary']['published'])"
curl -sf "${C[@]}" "$API/hubs/lancashire/pairings?format=csv" | head -4
curl -sf "${C[@]}" "$API/rounds/$ROUND/decisions" | json "len(d)"

# 6. Next term: the published pairings are the current ones, kept where they still pay (continuity).
NEXT=$(curl -sf "${L[@]}" -X POST "$API/hubs/lancashire/rounds" -d '{"term": "2026-summer"}' | json "d['id']")
curl -sf "${L[@]}" -X POST "$API/rounds/$NEXT/solve?wait=60" | json "{k: d['result']['stats'][k] for k in ('kept_pairings', 'changed_pairings', 'new_pairings')}"

# 7. A wave of new schools joins: published pairings stay locked and stay decided (their proposals arrive
#    approved or locked, attributed to the publish), so only the new schools' pairings wait for a decision.
WAVE=$(curl -sf "${L[@]}" -X POST "$API/hubs/lancashire/waves?wait=60" -d '{"wave": "2026-wave-2", "schools": [
  {"id": "URN900001", "name": "Preston New Academy", "postcode": "PR1 8JN", "pct_fsm": 32.5},
  {"id": "URN900002", "name": "Lancaster Free School", "postcode": "LA1 1AA"}]}')
echo "$WAVE" | json "{k: d['result']['stats'][k] for k in ('kept_pairings', 'changed_pairings', 'new_pairings')}"
curl -sf "${C[@]}" "$API$(echo "$WAVE" | json "d['round_url']")" | json "d['proposals']"
