#!/usr/bin/env bash
# thebacknd-deploy: switches a running Thebacknd machine to a new toplevel, with "magic rollback".
#
# The model is deploy-rs's activate-rs: the switch is armed with a confirmation timer; the deployer proves that it
# can still reach the machine by opening a NEW SSH session and confirming; without a confirmation in time (sshd
# gone, network broken, firewall closed) the machine switches back to the previous generation by itself. Unlike
# activate-rs, the switch runs in a process detached from the SSH session (setsid, or a systemd transient unit on
# NixOS), so that a switch that kills sshd cannot kill the timer with it, and the confirmation and the timer settle
# through one atomic `mkdir` so that a late confirmation and the timeout can never both win.
#
# Usage:
#   thebacknd-deploy start ID TOPLEVEL SECONDS   arm and start a deploy (SECONDS=0: no rollback); prints its log path
#   thebacknd-deploy confirm ID                  confirm an armed deploy; exit 3 when it was already rolled back
#   thebacknd-deploy cancel ID                   roll back as soon as possible (the deployer gave up)
#   thebacknd-deploy status ID                   the deploy's last stage line
#
# The deploy's log (/run/thebacknd/deploys/ID/log) holds `thebacknd: stage=NAME key=value…` lines (the agent's
# format) and the switch's output. Stages: deploy, fetch, profile, switch, armed, rollback, and one terminal line:
# `done result=switched|confirmed`, `rolled-back reason=… toplevel=PREVIOUS`, or `failed reason=…`.
#
# Environment (as for thebacknd-agent; tests point them at a scratch host):
#   THEBACKND_STATE_DIR       root-only runtime directory               (/run/thebacknd)
#   THEBACKND_CURRENT_SYSTEM  the running system's link                 (/run/current-system)
#   THEBACKND_PROFILE         the system profile                        (/nix/var/nix/profiles/system)
#   THEBACKND_DETACH          systemd-run | setsid | auto               (auto: systemd-run when systemd runs)

set -u -o pipefail

state_dir=${THEBACKND_STATE_DIR:-/run/thebacknd}
current_system=${THEBACKND_CURRENT_SYSTEM:-/run/current-system}
system_profile=${THEBACKND_PROFILE:-/nix/var/nix/profiles/system}
detach=${THEBACKND_DETACH:-auto}
deploys="$state_dir/deploys"
user_data="$state_dir/user-data.json"
credentials="$state_dir/cache-credentials"
lock="$state_dir/deploy.lock"
store_path_re='^/nix/store/[0-9a-z]{32}-[^/]+$'
id_re='^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'
log_file=/dev/null

# --- output (the agent's line format, so that one parser reads both) ----------------------------------------------

kv() {
  local key=$1 value=${2//$'\n'/ }
  if [[ $value =~ ^[A-Za-z0-9._:/@+,%-]+$ ]]; then
    printf ' %s=%s' "$key" "$value"
  else
    value=${value//\\/\\\\}
    printf ' %s="%s"' "$key" "${value//\"/\\\"}"
  fi
}

stage() {
  local line="thebacknd: stage=$1"
  shift
  while (($# >= 2)); do
    line+=$(kv "$1" "$2")
    shift 2
  done
  printf '%s\n' "$line" >>"$log_file"
}

# Before the worker runs: the error goes to the caller (over SSH) as a stage line, exit 1.
refuse() {
  local line
  line="thebacknd: stage=failed$(kv reason "$1")$(kv message "$2")"
  printf '%s\n' "$line"
  exit 1
}

json() { jq -r "$1 // empty" "$user_data" 2>/dev/null; }

# --- the worker (detached) ------------------------------------------------------------------------------------------

generation_of() {
  # /nix/var/nix/profiles/system -> system-12-link: prints 12 (nothing when the profile is not a generation link).
  local link
  link=$(readlink "$system_profile" 2>/dev/null) || return 0
  [[ $link =~ -([0-9]+)-link$ ]] && printf '%s' "${BASH_REMATCH[1]}"
}

# Substitutes TOPLEVEL from the machine's cache (the one its user-data names) when it is not in the store yet; a
# closure copied over SSH is already valid. Only missing paths travel either way.
obtain() {
  local path=$1 url key total=0 total_bytes=0 opts=() out
  nix-store --check-validity "$path" 2>/dev/null && { stage fetch paths 0/0 bytes 0/0; return 0; }
  url=$(json '.cache.url')
  key=$(json '.cache.trustedPublicKey')
  [[ -n $url && -n $key ]] || fail missing-path "$path is not on the machine and its user-data names no cache" path "$path"
  opts=(--option substituters "$url" --option trusted-public-keys "$key" --option require-sigs true
    --option narinfo-cache-negative-ttl 0 --option connect-timeout 10 --option fallback false)
  if [[ $(json '.cache.private') == true ]]; then
    case $url in
      s3://*) export AWS_SHARED_CREDENTIALS_FILE=$credentials ;;
      *) opts+=(--option netrc-file "$credentials") ;;
    esac
  fi
  out=$(nix-store --realise --dry-run "${opts[@]}" "$path" 2>&1 >/dev/null)
  mapfile -t missing < <(sed -n '/will be fetched/,/^[^ ]/s/^  \(\/nix\/store\/[^ ]*\)$/\1/p' <<<"$out")
  total=${#missing[@]}
  if ((total > 0)); then
    total_bytes=$(nix path-info --json --option extra-experimental-features nix-command --store "$url" "${opts[@]}" \
      "${missing[@]}" 2>/dev/null | jq '[if type == "array" then .[] else .[] end | .downloadSize // 0] | add // 0' 2>/dev/null)
  fi
  stage fetch paths "0/$total" bytes "0/${total_bytes:-0}"
  if ! nix-store --realise "${opts[@]}" "$path" >/dev/null 2>>"$log_file"; then
    fail fetch-failed "could not fetch $path from $url" path "$path"
  fi
  stage fetch paths "$total/$total" bytes "${total_bytes:-0}/${total_bytes:-0}"
}

finish() {
  rm -rf "$lock"
}

# fail REASON MESSAGE [key value]…: a failure before the profile changed; nothing to roll back.
fail() {
  local reason=$1 message=$2
  shift 2
  stage failed reason "$reason" message "$message" "$@"
  exit 1
}

# Sets the profile back to the previous generation (dropping the new one, as activate-rs does) and switches to it.
roll_back() {
  local reason=$1 message=$2 rc
  stage rollback reason "$reason" toplevel "$previous"
  if [[ -n $previous_gen ]]; then
    nix-env --profile "$system_profile" --switch-generation "$previous_gen" >/dev/null 2>&1 ||
      nix-env --profile "$system_profile" --set "$previous" >/dev/null 2>&1
  else
    nix-env --profile "$system_profile" --set "$previous" >/dev/null 2>&1
  fi
  [[ -z $new_gen || $new_gen == "$previous_gen" ]] ||
    nix-env --profile "$system_profile" --delete-generations "$new_gen" >/dev/null 2>&1 || true
  "$previous/bin/switch-to-configuration" switch </dev/null >>"$log_file" 2>&1
  rc=$?
  if ((rc != 0)); then
    stage failed reason rollback-failed message "switching back to $previous exited with status $rc" path "$previous"
    exit 1
  fi
  stage rolled-back reason "$reason" message "$message" toplevel "$previous"
  exit 1
}

# Waits until the deployer confirms or cancels, or the time is up. Whoever creates $dir/decision first decides.
wait_for_confirmation() {
  local seconds=$1 end decision
  end=$((SECONDS + seconds))
  : >"$dir/armed"
  stage armed wait "${seconds}s" toplevel "$toplevel"
  while ((SECONDS < end)) && [[ ! -d $dir/decision ]]; do
    sleep 0.2
  done
  if mkdir "$dir/decision" 2>/dev/null; then
    printf 'timeout\n' >"$dir/decision/by"
    roll_back confirm-timeout "no confirmation over a new SSH session within ${seconds}s"
  fi
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    [[ -s $dir/decision/by ]] && break
    sleep 0.1
  done
  decision=$(cat "$dir/decision/by" 2>/dev/null)
  case $decision in
    confirmed) stage 'done' result confirmed toplevel "$toplevel" ;;
    *) roll_back cancelled "the deployer cancelled the deploy" ;;
  esac
}

worker() {
  local rc
  id=$1 toplevel=$2 confirm_seconds=$3
  dir="$deploys/$id"
  log_file="$dir/log"
  trap finish EXIT
  previous=$(readlink -f "$current_system" 2>/dev/null || true)
  previous_gen=$(generation_of)
  new_gen=
  stage deploy id "$id" toplevel "$toplevel" previous "${previous:-none}" rollback "$confirm_seconds"
  if ((confirm_seconds > 0)) && [[ ! -x $previous/bin/switch-to-configuration ]]; then
    fail no-previous "the running system ($previous) cannot be switched back to; deploy with --no-rollback"
  fi
  obtain "$toplevel"
  [[ -x $toplevel/bin/switch-to-configuration ]] ||
    fail not-a-toplevel "$toplevel has no bin/switch-to-configuration" path "$toplevel"
  nix-env --profile "$system_profile" --set "$toplevel" >/dev/null 2>&1 ||
    fail profile "cannot set $system_profile to $toplevel" path "$toplevel"
  new_gen=$(generation_of)
  stage profile path "$system_profile" generation "${new_gen:-?}"
  # A cancel that came before the switch: nothing ran yet, only the profile moved.
  if [[ -d $dir/decision ]] && ((confirm_seconds > 0)); then
    roll_back cancelled "the deployer cancelled the deploy before the switch"
  fi
  stage switch toplevel "$toplevel"
  "$toplevel/bin/switch-to-configuration" switch </dev/null >>"$log_file" 2>&1
  rc=$?
  if ((rc != 0)); then
    ((confirm_seconds > 0)) && roll_back switch-failed "switch-to-configuration exited with status $rc"
    fail switch-failed "switch-to-configuration exited with status $rc" code "$rc"
  fi
  if ((confirm_seconds == 0)); then
    stage 'done' result switched toplevel "$toplevel"
    return 0
  fi
  wait_for_confirmation "$confirm_seconds"
}

# --- the commands the deployer runs over SSH ------------------------------------------------------------------------

start() {
  local id=$1 toplevel=$2 seconds=$3 holder self
  [[ $id =~ $id_re ]] || refuse usage "bad deploy id '$id'"
  [[ $toplevel =~ $store_path_re ]] || refuse usage "not a store path: $toplevel"
  [[ $seconds =~ ^[0-9]+$ ]] || refuse usage "the confirmation timeout must be whole seconds, not '$seconds'"
  { mkdir -p "$deploys" && chmod 700 "$state_dir"; } || refuse state-dir "cannot create $deploys"
  [[ ! -e $deploys/$id ]] || refuse usage "deploy $id exists already"
  # One deploy at a time: the lock holds the worker's deploy id; a lock whose deploy is over is stale.
  if ! mkdir "$lock" 2>/dev/null; then
    holder=$(cat "$lock/id" 2>/dev/null)
    if [[ -n $holder ]] && ! grep -qE 'stage=(done|rolled-back|failed)' "$deploys/$holder/log" 2>/dev/null &&
      [[ -e /proc/$(cat "$lock/pid" 2>/dev/null || echo 0) ]]; then
      refuse busy "another deploy ($holder) is still running on this machine"
    fi
    rm -rf "$lock"
    mkdir "$lock" || refuse busy "another deploy is starting on this machine"
  fi
  printf '%s\n' "$id" >"$lock/id"
  mkdir -p "$deploys/$id"
  : >"$deploys/$id/log"
  self=$(readlink -f "${BASH_SOURCE[0]}")
  if [[ $detach == auto ]]; then
    if [[ -d /run/systemd/system ]] && command -v systemd-run >/dev/null; then detach=systemd-run; else detach=setsid; fi
  fi
  case $detach in
    systemd-run)
      # A transient unit outlives the SSH session and sshd itself, and is not in the cgroup a switch may stop.
      systemd-run --unit "thebacknd-deploy-$id" --collect --quiet --setenv=PATH="$PATH" \
        --setenv=THEBACKND_STATE_DIR="$state_dir" --setenv=THEBACKND_CURRENT_SYSTEM="$current_system" \
        --setenv=THEBACKND_PROFILE="$system_profile" \
        "$(command -v bash)" "$self" worker "$id" "$toplevel" "$seconds" || refuse detach "systemd-run failed"
      systemctl show --property MainPID --value "thebacknd-deploy-$id" >"$lock/pid" 2>/dev/null
      ;;
    setsid)
      setsid bash "$self" worker "$id" "$toplevel" "$seconds" </dev/null >/dev/null 2>&1 &
      printf '%s\n' "$!" >"$lock/pid"
      ;;
    *) refuse usage "THEBACKND_DETACH must be systemd-run, setsid or auto, not '$detach'" ;;
  esac
  printf 'thebacknd: stage=started%s%s\n' "$(kv id "$id")" "$(kv log "$deploys/$id/log")"
}

# confirm|cancel ID: claims the decision. confirm exits 0 when it won (or had already), 3 when the timer or a
# cancel won, 4 when the deploy is not armed yet (the deployer retries).
decide() {
  local what=$1 id=$2 d by
  [[ $id =~ $id_re ]] || refuse usage "bad deploy id '$id'"
  d="$deploys/$id"
  [[ -d $d ]] || refuse unknown "no deploy $id on this machine"
  if [[ $what == confirmed && ! -e $d/armed ]]; then
    grep -qE 'stage=(rolled-back|failed)' "$d/log" && { tail -n 1 "$d/log"; exit 3; }
    echo "thebacknd: stage=waiting message=\"not armed yet\""
    exit 4
  fi
  if mkdir "$d/decision" 2>/dev/null; then
    printf '%s\n' "$what" >"$d/decision/by"
    printf 'thebacknd: stage=%s%s\n' "$what" "$(kv id "$id")"
    exit 0
  fi
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    [[ -s $d/decision/by ]] && break
    sleep 0.1
  done
  by=$(cat "$d/decision/by" 2>/dev/null)
  printf 'thebacknd: stage=decided%s%s\n' "$(kv id "$id")" "$(kv by "${by:-unknown}")"
  [[ $by == "$what" ]] && exit 0
  exit 3
}

main() {
  for tool in jq nix-store nix-env setsid; do
    command -v "$tool" >/dev/null || refuse missing-tool "$tool is not on PATH"
  done
  case ${1:-} in
    start) (($# == 4)) || refuse usage "usage: thebacknd-deploy start ID TOPLEVEL SECONDS"; start "$2" "$3" "$4" ;;
    worker) (($# == 4)) || exit 2; worker "$2" "$3" "$4" ;;
    confirm) (($# == 2)) || refuse usage "usage: thebacknd-deploy confirm ID"; decide confirmed "$2" ;;
    cancel) (($# == 2)) || refuse usage "usage: thebacknd-deploy cancel ID"; decide cancelled "$2" ;;
    status)
      { (($# == 2)) && [[ $2 =~ $id_re ]]; } || refuse usage "usage: thebacknd-deploy status ID"
      grep 'thebacknd: stage=' "$deploys/$2/log" 2>/dev/null | tail -n 1
      ;;
    *) refuse usage "usage: thebacknd-deploy start|confirm|cancel|status …" ;;
  esac
}

main "$@"
