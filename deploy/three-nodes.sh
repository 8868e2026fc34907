#!/usr/bin/env bash
# Three ringmaster run nodes on one PostgreSQL database, each in the
# network of one organisation, as the README's "Several nodes on
# PostgreSQL" walks through: a simulated estate of three organisations
# stands in for their networks. Node a and b start; the third
# organisation's devices wait for a node until c starts and finishes the
# campaign. `make demo-nodes` runs it (CI too).
#
#   deploy/three-nodes.sh [DIR]     # default ./ringmaster-nodes
#
# RINGMASTER_DB may name an empty PostgreSQL database; by default
# .ci/postgres makes a fresh one (ringmaster_nodes) on a local server it
# installs and starts. BIN is the ringmaster binary (default bin/ringmaster).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
bin=$(realpath "${BIN:-$root/bin/ringmaster}")
dir=${1:-ringmaster-nodes}
export RINGMASTER_DB=${RINGMASTER_DB:-$("$root/.ci/postgres" ringmaster_nodes)}
rm -rf "$dir" && mkdir -p "$dir" && cd "$dir"
export RINGMASTER_KEY_FILE=$PWD/nodes.key
say() { printf '\n$ %s\n' "$*"; }

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

# The estate: 300 simulated Windows devices in three organisations.
say ringmaster simulate --devices 300 --orgs 3 --seed 7 --time-scale 600 --inventory-out fleet.csv '&'
"$bin" simulate --devices 300 --orgs 3 --seed 7 --time-scale 600 --faults compat=4%,rollback=3% \
  --inventory-out fleet.csv > simulate.log 2>&1 &
pids+=($!)
for _ in $(seq 1 300); do grep -q '^ready' simulate.log 2>/dev/null && break; sleep 0.2; done
grep -q '^ready' simulate.log || { cat simulate.log; exit 1; }
mapfile -t orgs < <(tail -n +2 fleet.csv | cut -d, -f2 | sort -u)
[ "${#orgs[@]}" -eq 3 ] || { echo "want 3 organisations in fleet.csv, got: ${orgs[*]}"; exit 1; }

say ringmaster inventory import fleet.csv --create-orgs
"$bin" inventory import fleet.csv --create-orgs
say ringmaster credential add simulated --username ringmaster --password-stdin
echo Simulated-Passw0rd | "$bin" credential add simulated --username ringmaster --password-stdin
cat > win10.yaml <<'YAML'
name: win10
playbook: win10-feature-update
params:
  media_source: '\\dp01\media$\Win10_22H2'
target: 'build>=10.0.10240,build<10.0.19045'
waves:
  - {name: all, max_failure_percent: 100}   # this walk-through is about nodes: no halts (full disks fail)
YAML
say ringmaster campaign create -f win10.yaml '&&' ringmaster campaign start win10
"$bin" campaign create -f win10.yaml
"$bin" campaign start win10

# One node in each of two organisations' networks.
names=(a b)
for i in 0 1; do
  name=${names[$i]}
  say ringmaster run --node "$name" --serve "org=${orgs[$i]}" --view plain '&'
  "$bin" run --node "$name" --serve "org=${orgs[$i]}" --view plain > "node-$name.log" 2>&1 &
  pids+=($!)
done
for _ in $(seq 1 100); do
  [ "$("$bin" nodes -o json | grep -Ec '"live": ?true')" -eq 2 ] && break
  sleep 0.2
done
say ringmaster nodes
"$bin" nodes
sleep 3
say ringmaster campaign show win10
show=$("$bin" campaign show win10)
echo "$show"
grep -q "waiting for a node: no running node serves ${orgs[2]}" <<<"$show" || {
  echo "three-nodes: ${orgs[2]} is not shown waiting for a node"; exit 1; }

# The third organisation's node finishes the campaign.
say ringmaster run --node c --serve "org=${orgs[2]}" --until-done --view plain
"$bin" run --node c --serve "org=${orgs[2]}" --until-done --view plain > node-c.log 2>&1 || { cat node-c.log; exit 1; }
say ringmaster campaign show win10
"$bin" campaign show win10
"$bin" campaign show win10 -o json | grep -Eq '"status": ?"done"' || { echo "three-nodes: the campaign is not done"; exit 1; }
say ringmaster report progress --campaign win10
"$bin" report progress --campaign win10
