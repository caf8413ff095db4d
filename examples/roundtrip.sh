#!/usr/bin/env bash
# The README's API round trip: stateless solve, a solve job, a stored week planned and published,
# a slot offered and booked, and the week re-planned as a job.
# Needs a running service (vanplan serve) and a dispatcher token in VANPLAN_TOKEN.
set -euo pipefail
cd "$(dirname "$0")"
BASE=${BASE:-http://127.0.0.1:8000}
AUTH=(-H "Authorization: Bearer ${VANPLAN_TOKEN:?create one with: vanplan token create --role dispatcher}")
JSON=(-H "Content-Type: application/json")
field() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }

echo "== health"; curl -sf "$BASE/health"; echo

echo "== 1. stateless solve (POST /v1/solve)"
curl -sf "${AUTH[@]}" "${JSON[@]}" -X POST "$BASE/v1/solve" --data-binary @solve.json \
  | field '["summary"]'

echo "== 2. solve job (POST /v1/jobs, GET /v1/jobs/{id}, GET /v1/jobs/{id}/plan)"
JOB=$(curl -sf "${AUTH[@]}" "${JSON[@]}" -X POST "$BASE/v1/jobs" --data-binary @solve.json | field '["id"]')
until [ "$(curl -sf "${AUTH[@]}" "$BASE/v1/jobs/$JOB" | field '["status"]')" != running ] \
   && [ "$(curl -sf "${AUTH[@]}" "$BASE/v1/jobs/$JOB" | field '["status"]')" != queued ]; do sleep 1; done
curl -sf "${AUTH[@]}" "$BASE/v1/jobs/$JOB" | field '["status"]'
curl -sf "${AUTH[@]}" "$BASE/v1/jobs/$JOB/plan" | field '["unassigned"]'

echo "== 3. stored data: a van, its shift, a client and a visit"
curl -sf "${AUTH[@]}" "${JSON[@]}" -X POST "$BASE/v1/vans" \
  -d '{"id": "van-1", "name": "Mobiles Büro 1", "skills": ["lang:ar"]}' >/dev/null
curl -sf "${AUTH[@]}" "${JSON[@]}" -X POST "$BASE/v1/vans/van-1/shifts" \
  -d '{"id": "mon", "start": "2026-11-23T08:00:00+01:00", "end": "2026-11-23T16:00:00+01:00"}' >/dev/null
curl -sf "${AUTH[@]}" "${JSON[@]}" -X POST "$BASE/v1/clients" \
  -d '{"id": "client-1", "name": "Erika Mustermann", "location": [8.9442, 49.7021], "language": "ar"}' >/dev/null
curl -sf "${AUTH[@]}" "${JSON[@]}" -X POST "$BASE/v1/visits" \
  -d '{"id": "visit-1", "client_id": "client-1", "duration_minutes": 45, "skills": ["lang:ar"],
       "windows": [{"start": "2026-11-23T09:00:00+01:00", "end": "2026-11-23T12:00:00+01:00"}]}' >/dev/null

echo "== 4. plan the week, publish, fetch the crew itinerary and the GeoJSON"
PLAN=$(curl -sf "${AUTH[@]}" "${JSON[@]}" -X POST "$BASE/v1/weeks/2026-W48/plan" -d '{}' | field '["id"]')
curl -sf "${AUTH[@]}" -X POST "$BASE/v1/plans/$PLAN/publish" | field '["status"]'
curl -sf "${AUTH[@]}" "$BASE/v1/plans/$PLAN/itinerary/van-1/2026-11-23" | field '["stops"][1]'
curl -sf "${AUTH[@]}" "$BASE/v1/plans/$PLAN/geojson" | field '["type"]'

echo "== 4b. a client calls: the best slots for a new visit, then book the first"
VISIT='{"client_id": "client-1", "duration_minutes": 30, "dates": ["2026-11-23"]}'
SLOT=$(curl -sf "${AUTH[@]}" "${JSON[@]}" -X POST "$BASE/v1/weeks/2026-W48/offers" \
  -d "${VISIT%\}}, \"limit\": 2}" \
  | python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["offers"][0]["slot"]))')
echo "$SLOT"
curl -sf "${AUTH[@]}" "${JSON[@]}" -X POST "$BASE/v1/weeks/2026-W48/offers/book" \
  -d "{\"id\": \"visit-2\", \"visit\": $VISIT, \"slot\": $SLOT}" | field '["plan"]["version"]'

echo "== 5. re-plan the week as a job: progress while it runs, then the new draft version"
JOB=$(curl -sf "${AUTH[@]}" "${JSON[@]}" -X POST "$BASE/v1/weeks/2026-W48/replan/jobs" \
  -d '{"time_limit_seconds": 2}' | field '["id"]')
while curl -sf "${AUTH[@]}" "$BASE/v1/jobs/$JOB" | field '["status"]' | grep -qE 'queued|running'; do
  curl -sf "${AUTH[@]}" "$BASE/v1/jobs/$JOB" | field '["progress"]'; sleep 1
done
curl -sf "${AUTH[@]}" "$BASE/v1/jobs/$JOB" | field '["kind"]'
curl -sf "${AUTH[@]}" "$BASE/v1/jobs/$JOB" | field '["status"]'
NEW=$(curl -sf "${AUTH[@]}" "$BASE/v1/jobs/$JOB" | field '["plan_id"]')
curl -sf "${AUTH[@]}" "$BASE/v1/plans/$NEW" | field '["version"]'
