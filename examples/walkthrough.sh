#!/usr/bin/env bash
# One matter from raised to closed over REST, as in README.md.
# Run: start the server (cargo run --release -p convene-api -- serve --demo --insecure-dev), then
#      bash examples/walkthrough.sh            (API=http://host:port to point elsewhere)
set -euo pipefail
API=${API:-http://127.0.0.1:8080}
# 民事民提: a resident raises the matter
ID=$(curl -s $API/v1/issues -H 'Content-Type: application/json' -d '{
  "workflow_id": "community-issue",
  "actor": {"id": "r-1", "name": "王秀英", "role": "resident"},
  "community": "wuhan/wuchang/zhongnan-street/dongting-community",
  "title": {"zh-CN": "楼道堆放杂物存在消防隐患", "en": "Clutter in the stairwell is a fire hazard"},
  "category": "stairwell", "households_affected": 24,
  "raised_by": {"name": "王秀英", "society": "community"}
}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["issue"]["id"])')

step() { curl -s -w ' -> %{http_code}\n' -o /dev/null $API/v1/issues/$ID/steps -H 'Content-Type: application/json' -d "$1"; }
# 需求评估: a social worker assesses door to door
step '{"type": "NeedAssessed", "actor": {"id": "sw-1", "role": "social_worker"}, "data": {"assessor": {"name": "李娜", "society": "social_worker"}, "method": "door_to_door", "households_visited": 20, "findings": {"zh-CN": "多数住户愿意清理", "en": "Most households will clear it"}, "priority": "high", "recommended_steps": ["micro_pact"]}}'
# 民事民议: on the consultation day's agenda, deliberated
step '{"type": "PlacedOnAgenda", "actor": {"id": "c-1", "role": "convener"}, "data": {"meeting_id": "dongting-2026-12-consultation-day", "meeting_kind": "consultation_day"}}'
step '{"type": "Deliberated", "actor": {"id": "c-1", "role": "convener"}, "data": {"meeting_id": "dongting-2026-12-consultation-day", "summary": {"zh-CN": "居民同意订立楼道公约", "en": "Residents agree to a stairwell pact"}}}'
# 民事民决: the motion carried
step '{"type": "ResolutionPassed", "actor": {"id": "c-1", "role": "convener"}, "data": {"meeting_id": "dongting-2026-12-consultation-day", "motion_id": "m1", "votes": {"for": 18, "against": 2, "abstain": 1}, "rule": "majority", "resolution": {"zh-CN": "制定楼道微公约", "en": "Adopt a stairwell micro-pact"}, "decided_steps": ["micro_pact"]}}'
# 微公约: drafted, publicised, adopted
step '{"type": "MicroPactDrafted", "actor": {"id": "rr-1", "role": "resident_representative"}, "data": {"pact_id": "stairwell-1", "title": {"zh-CN": "楼道文明公约"}, "clauses": [{"zh-CN": "楼道内不堆放杂物"}]}}'
step '{"type": "MicroPactPublicized", "actor": {"id": "cs-1", "role": "community_staff"}, "data": {"pact_id": "stairwell-1", "channels": ["notice_board"], "from": "2026-12-01", "until": "2026-12-07"}}'
step '{"type": "MicroPactAdopted", "actor": {"id": "c-1", "role": "convener"}, "data": {"pact_id": "stairwell-1", "effective_from": "2026-12-08"}}'
# 民事民评 and close
step '{"type": "Evaluated", "actor": {"id": "rr-1", "role": "resident_representative"}, "data": {"evaluator": {"name": "赵敏"}, "satisfaction": 5, "outcome": "resolved"}}'
step '{"type": "IssueClosed", "actor": {"id": "c-1", "role": "convener"}, "data": {"reason": "resolved", "summary": {"zh-CN": "楼道已清理", "en": "The stairwell is clear"}}}'

curl -s $API/v1/issues/$ID | python3 -m json.tool --no-ensure-ascii | head -40       # state, record, history, allowed steps
curl -s "$API/v1/issues/$ID?version=2" | python3 -m json.tool --no-ensure-ascii | head  # the matter as it was at version 2
curl -s $API/v1/issues/$ID/events | python3 -m json.tool --no-ensure-ascii | grep hash  # the hash chain
