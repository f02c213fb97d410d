#!/usr/bin/env bash
# thebacknd-agent: the boot agent of the Thebacknd base image.
#
# Reads the machine's user-data (JSON, see src/agent/user-data.ts) from the cloud's metadata service, installs the
# pinned SSH host key and the login keys, then realises the toplevel named there from the binary cache and switches
# to it — or realises a binary, runs it and powers the machine off. Every step prints one line
# `thebacknd: stage=NAME key=value…` that the extension parses (src/agent/log.ts); failures print
# `thebacknd: stage=failed reason=CODE message="…"` and exit non-zero.
#
# Usage: thebacknd-agent [keys|boot|all|checkin]
#   keys     metadata + keys only (the NixOS module runs this before sshd starts)
#   boot     everything after the keys (run after sshd, so that cache credentials can arrive over SSH)
#   all      both, in order (the default)
#   checkin  ask the cloud reaper (user-data `reaper`) to destroy this machine if it is due (a timer runs this)
#
# With a cloud reaper in user-data, a binary's end destroys the machine through the reaper's destroy-self web
# action (its own code, never a token), so billing stops at once; without one, or when that call fails, it powers
# off and the next reaper pass destroys it.
#
# The same script runs on the NixOS image (paths below at their defaults) and on the test hosts, which point the
# paths at a scratch directory through these variables:
#   THEBACKND_METADATA_URL          base URL of the metadata service      (http://169.254.169.254)
#   THEBACKND_PROVIDER              digitalocean | hetzner | auto          (auto: try both user-data paths)
#   THEBACKND_SSH_DIR               where the host key goes                (/etc/ssh)
#   THEBACKND_AUTHORIZED_KEYS       root's authorized_keys file            (/root/.ssh/authorized_keys)
#   THEBACKND_STATE_DIR             root-only runtime directory            (/run/thebacknd)
#   THEBACKND_LOG                   the boot log: stage lines and the output of the switch or the binary, from both
#                                   phases, for `tail -F` over SSH         ($THEBACKND_STATE_DIR/agent.log)
#   THEBACKND_CURRENT_SYSTEM        the running system's link              (/run/current-system)
#   THEBACKND_PROFILE               the system profile                     (/nix/var/nix/profiles/system)
#   THEBACKND_POWEROFF              command that powers the machine off    (systemctl poweroff)
#   THEBACKND_REBOOT                command that reboots the machine       (systemctl reboot)
#   THEBACKND_METADATA_TRIES        metadata attempts before giving up     (60)
#   THEBACKND_RETRY_DELAY           seconds between attempts               (2)
#   THEBACKND_CREDENTIALS_TIMEOUT   seconds to wait for cache credentials  (900)
#   THEBACKND_CLOSURE_TIMEOUT       seconds to wait for a closure copied over SSH (1800)

set -u -o pipefail

metadata_url=${THEBACKND_METADATA_URL:-http://169.254.169.254}
provider=${THEBACKND_PROVIDER:-auto}
ssh_dir=${THEBACKND_SSH_DIR:-/etc/ssh}
authorized_keys=${THEBACKND_AUTHORIZED_KEYS:-/root/.ssh/authorized_keys}
state_dir=${THEBACKND_STATE_DIR:-/run/thebacknd}
current_system=${THEBACKND_CURRENT_SYSTEM:-/run/current-system}
system_profile=${THEBACKND_PROFILE:-/nix/var/nix/profiles/system}
poweroff_cmd=${THEBACKND_POWEROFF:-systemctl poweroff}
reboot_cmd=${THEBACKND_REBOOT:-systemctl reboot}
metadata_tries=${THEBACKND_METADATA_TRIES:-60}
retry_delay=${THEBACKND_RETRY_DELAY:-2}
credentials_timeout=${THEBACKND_CREDENTIALS_TIMEOUT:-900}
closure_timeout=${THEBACKND_CLOSURE_TIMEOUT:-1800}
narinfo_timeout=${THEBACKND_NARINFO_TIMEOUT:-1800}

log_file=${THEBACKND_LOG:-$state_dir/agent.log}
user_data="$state_dir/user-data.json"
credentials="$state_dir/cache-credentials"
closure_ready="$state_dir/closure-ready"
store_path_re='^/nix/store/[0-9a-z]{32}-[^/]+$'
file_in_store_re='^/nix/store/[0-9a-z]{32}-[^/]+/.+$'

# --- output -------------------------------------------------------------------------------------------------------

# A value goes out bare when it is a plain token, quoted (with \ and " escaped) otherwise; newlines become spaces.
kv() {
  local key=$1 value=${2//$'\n'/ }
  if [[ $value =~ ^[A-Za-z0-9._:/@+,%-]+$ ]]; then
    printf ' %s=%s' "$key" "$value"
  else
    value=${value//\\/\\\\}
    printf ' %s="%s"' "$key" "${value//\"/\\\"}"
  fi
}

# stage NAME [key value]…
stage() {
  local line="thebacknd: stage=$1"
  shift
  while (($# >= 2)); do
    line+=$(kv "$1" "$2")
    shift 2
  done
  printf '%s\n' "$line"
  printf '%s\n' "$line" >>"$log_file" 2>/dev/null || true
}

# fail REASON MESSAGE [key value]…
fail() {
  local reason=$1 message=$2
  shift 2
  stage failed reason "$reason" message "$message" "$@"
  exit 1
}

json() { jq -r "$1 // empty" "$user_data"; }

# Which cloud's metadata service answered (set by fetch_metadata; "auto" tries both).
metadata_source=$provider

# --- stages -------------------------------------------------------------------------------------------------------

# Writes the user-data to $user_data. Connection failures are retried (the network may still be coming up); an HTTP
# answer without user-data means the machine was created without any: the bare image.
fetch_metadata() {
  local paths=() path code attempt=1 answered
  case $provider in
    digitalocean) paths=(/metadata/v1/user-data) ;;
    hetzner) paths=(/hetzner/v1/userdata) ;;
    auto) paths=(/metadata/v1/user-data /hetzner/v1/userdata) ;;
    *) fail bad-config "THEBACKND_PROVIDER must be digitalocean, hetzner or auto, not '$provider'" ;;
  esac
  stage metadata url "$metadata_url" provider "$provider"
  while :; do
    answered=0
    for path in "${paths[@]}"; do
      code=$(curl -sS --connect-timeout 3 --max-time 10 -o "$user_data.part" -w '%{http_code}' \
        "$metadata_url$path" 2>/dev/null) || code=000
      if [[ $code == 200 ]]; then
        [[ $path == /hetzner/* ]] && metadata_source=hetzner
        mv "$user_data.part" "$user_data"
        chmod 600 "$user_data"
        return 0
      fi
      [[ $code == 000 ]] || answered=1
    done
    rm -f "$user_data.part"
    if ((answered)); then
      : >"$user_data"
      return 0
    fi
    if ((attempt >= metadata_tries)); then
      fail metadata-unreachable "the metadata service at $metadata_url did not answer after $attempt attempts"
    fi
    attempt=$((attempt + 1))
    sleep "$retry_delay"
  done
}

check_user_data() {
  [[ -s $user_data ]] || return 0
  jq -e 'type == "object"' "$user_data" >/dev/null 2>&1 || fail bad-user-data "the user-data is not a JSON object"
  local version toplevel binary
  version=$(json '.version')
  [[ $version == 1 ]] || fail bad-user-data "unsupported user-data version '${version:-none}' (this agent reads version 1)"
  toplevel=$(json '.toplevel')
  binary=$(json '.binary.path')
  [[ -z $toplevel || $toplevel =~ $store_path_re ]] || fail bad-user-data "toplevel is not a store path: $toplevel"
  [[ -z $binary || $binary =~ $file_in_store_re ]] || fail bad-user-data "binary is not a file in the Nix store: $binary"
  [[ -z $toplevel || -z $binary ]] || fail bad-user-data "user-data names both a toplevel and a binary"
  if [[ (-n $toplevel || -n $binary) && $(json '.closure') != ssh ]]; then
    [[ -n $(json '.cache.url') ]] || fail bad-user-data "user-data names a store path but no cache URL"
    [[ -n $(json '.cache.trustedPublicKey') ]] || fail bad-user-data "user-data names no trusted public key"
  fi
}

# Hetzner hands the account SSH keys chosen at create (`ssh_keys`) to the machine only through the metadata's
# public-keys (nixpkgs' hcloud module does the same); the answer is a JSON or YAML list of strings.
account_keys() {
  local answer
  [[ $metadata_source == hetzner ]] || return 0
  answer=$(curl -sfS --connect-timeout 3 --max-time 10 "$metadata_url/hetzner/v1/metadata/public-keys" 2>/dev/null) || return 0
  if jq -e 'type == "array"' >/dev/null 2>&1 <<<"$answer"; then
    jq -r '.[] | strings' <<<"$answer"
  else
    sed -n "s/^- *//p" <<<"$answer" | sed "s/^'\\(.*\\)'\$/\\1/; s/^\"\\(.*\\)\"\$/\\1/"
  fi
}

# After the keys phase only root needs the metadata service: the user-data (the throwaway host private key, a
# destroy-self code if any) stays in $user_data (root-only, in the 0700 state folder), and every other user's
# packets to the metadata address are refused (nftables, owner match on the socket's uid). A metadata URL by name
# (never on a machine) has no address to block.
lock_metadata() {
  local host=${metadata_url#*://}
  host=${host%%[:/]*}
  [[ $host =~ ^[0-9]+(\.[0-9]+){3}$ ]] || return 0
  command -v nft >/dev/null || fail metadata-lock "nft is not on PATH: cannot keep other users away from $host"
  nft -f - <<EOF || fail metadata-lock "nft refused the rule that keeps other users away from $host"
table inet thebacknd_metadata
delete table inet thebacknd_metadata
table inet thebacknd_metadata {
  chain output {
    type filter hook output priority 0; policy accept;
    ip daddr $host meta skuid != 0 reject
  }
}
EOF
}

install_keys() {
  local host_private='' host_public='' count=0 key installed=none
  [[ -s $user_data ]] && host_private=$(json '.hostKey.private') && host_public=$(json '.hostKey.public')
  if [[ -n ${host_private:-} && -n ${host_public:-} ]]; then
    mkdir -p "$ssh_dir" || fail keys "cannot create $ssh_dir"
    if ! { (umask 077 && printf '%s\n' "$host_private" >"$ssh_dir/ssh_host_ed25519_key.tmp") &&
      mv "$ssh_dir/ssh_host_ed25519_key.tmp" "$ssh_dir/ssh_host_ed25519_key" &&
      printf '%s\n' "$host_public" >"$ssh_dir/ssh_host_ed25519_key.pub" &&
      chmod 644 "$ssh_dir/ssh_host_ed25519_key.pub"; }; then
      fail keys "cannot write the host key to $ssh_dir"
    fi
    # A key pair that does not match would leave sshd offering a key the extension refuses: say so here.
    if command -v ssh-keygen >/dev/null &&
      [[ $(ssh-keygen -y -f "$ssh_dir/ssh_host_ed25519_key" 2>/dev/null | cut -d' ' -f1-2) != $(cut -d' ' -f1-2 <<<"$host_public") ]]; then
      fail keys "the host key pair in user-data does not match (or is not an OpenSSH private key)"
    fi
    installed=$(cut -d' ' -f1 <<<"$host_public")
  fi
  if ! { mkdir -p "${authorized_keys%/*}" && chmod 700 "${authorized_keys%/*}" &&
    touch "$authorized_keys" && chmod 600 "$authorized_keys"; }; then
    fail keys "cannot write $authorized_keys"
  fi
  # Appends rather than replaces: keys the cloud installed (e.g. DigitalOcean account keys) stay usable.
  while IFS= read -r key; do
    [[ -n $key ]] || continue
    grep -qxF -- "$key" "$authorized_keys" || printf '%s\n' "$key" >>"$authorized_keys"
    count=$((count + 1))
  done < <([[ -s $user_data ]] && jq -r '.authorizedKeys[]? // empty' "$user_data"; account_keys)
  stage keys host "$installed" authorized "$count"
}

# Sets nix_opts for every later nix call: only our cache, only our key, signatures required, no negative narinfo
# cache (a path pushed after a first miss must be found on the next try).
configure_cache() {
  local url key
  url=$(json '.cache.url')
  key=$(json '.cache.trustedPublicKey')
  nix_opts=(--option substituters "$url" --option trusted-public-keys "$key" --option require-sigs true
    --option narinfo-cache-negative-ttl 0 --option connect-timeout 10 --option fallback false)
  if [[ $(json '.cache.private') == true ]]; then
    wait_credentials
    case $url in
      s3://*) export AWS_SHARED_CREDENTIALS_FILE=$credentials ;;
      *) nix_opts+=(--option netrc-file "$credentials") ;;
    esac
  fi
  stage cache url "$url"
  if [[ $url == http://* || $url == https://* ]]; then
    local curl_auth=() attempt=1 code
    [[ $(json '.cache.private') != true ]] || curl_auth=(--netrc-file "$credentials")
    while :; do
      code=$(curl -sS --connect-timeout 3 --max-time 10 "${curl_auth[@]}" -o /dev/null -w '%{http_code}' \
        "$url/nix-cache-info" 2>/dev/null) || code=000
      case $code in
        200) break ;;
        401 | 403) fail cache-unauthorized "the binary cache refused the credentials (HTTP $code)" url "$url" ;;
        000) ;;
        *) fail cache-unreachable "the binary cache answered HTTP $code for nix-cache-info" url "$url" ;;
      esac
      ((attempt < 3)) || fail cache-unreachable "the binary cache at $url did not answer" url "$url"
      attempt=$((attempt + 1))
      sleep "$retry_delay"
    done
  fi
}

# The extension writes the cache's read credentials over the pinned SSH connection, never in user-data.
wait_credentials() {
  local waited=0
  [[ -s $credentials ]] && return 0
  stage credentials wait "${credentials_timeout}s"
  while [[ ! -s $credentials ]]; do
    ((waited < credentials_timeout)) || fail credentials-timeout "no cache credentials arrived in $credentials within ${credentials_timeout}s"
    sleep 1
    waited=$((waited + 1))
  done
}

# No cache (`closure: ssh` in user-data): the extension copies the closure over the pinned SSH connection, then
# writes the store path to $closure_ready. Nothing is substituted; the path must then be valid here.
wait_closure() {
  local path=$1 waited=0
  stage closure source ssh wait "${closure_timeout}s" path "$path"
  while [[ ! -s $closure_ready ]]; do
    ((waited < closure_timeout)) ||
      fail closure-timeout "the closure was not copied over SSH within ${closure_timeout}s" path "$path"
    sleep 1
    waited=$((waited + 1))
  done
  nix-store --check-validity "$path" 2>/dev/null ||
    fail missing-path "$path is not in the local store after the copy over SSH" path "$path"
}

# The extension creates the machine while it still pushes the closure, and writes PATH's narinfo last, after the
# narinfos of everything PATH references: once it answers, the whole closure is in the cache. Bounded wait.
wait_narinfo() {
  local path=$1 url hash name started=$SECONDS first=1 code auth=()
  url=$(json '.cache.url')
  name=${path#/nix/store/}
  hash=${name%%-*}
  [[ $(json '.cache.private') != true ]] || auth=(--netrc-file "$credentials")
  while :; do
    case $url in
      http://* | https://*)
        code=$(curl -sS --connect-timeout 3 --max-time 10 "${auth[@]}" -o /dev/null -w '%{http_code}' \
          "$url/$hash.narinfo" 2>/dev/null) || code=000
        ;;
      *) # s3:// and other stores: ask Nix (it signs S3 requests with the credentials file)
        code=404
        nix --extra-experimental-features nix-command path-info "${nix_opts[@]}" --store "$url" "$path" \
          >/dev/null 2>&1 && code=200
        ;;
    esac
    [[ $code == 200 ]] && return 0
    [[ $code != 401 && $code != 403 ]] ||
      fail cache-unauthorized "the binary cache refused the credentials (HTTP $code)" url "$url"
    ((first == 0)) || stage closure source cache wait "${narinfo_timeout}s" path "$path"
    first=0
    ((SECONDS - started < narinfo_timeout)) ||
      fail narinfo-timeout "$path did not appear in the binary cache within ${narinfo_timeout}s (did the push stop?)" path "$path"
    sleep 0.5
  done
}

# Makes PATH valid in the local store: substituted from the cache, or copied over SSH by the extension.
obtain() {
  if [[ $(json '.closure') == ssh ]]; then
    wait_closure "$1"
  else
    configure_cache
    nix-store --check-validity "$1" 2>/dev/null || wait_narinfo "$1"
    fetch "$1"
  fi
}

# Explains a failed nix-store run from its log, in the terms a user acts on.
fetch_failure() {
  local log=$1 path=$2 missing
  # Nix 2.8: "the substitute for 'P' from 'U' is not signed by any of the keys in 'trusted-public-keys'";
  # Nix >= 2.10: "ignoring substitute for 'P' from 'U', as it's not signed by any of the keys in 'trusted-public-keys'".
  if grep -q "not signed by any of the keys" "$log"; then
    fail untrusted-signature "the cache's signatures do not match the trusted public key" \
      path "$(grep -o "substitute for '[^']*'" "$log" | head -n1 | cut -d"'" -f2)"
  fi
  if grep -q "unable to download '[^']*nix-cache-info'" "$log"; then
    fail cache-unreachable "the binary cache did not answer" url "$(json '.cache.url')"
  fi
  missing=$(sed -n "/don't know how to build these paths/,/^[^ ]/s/^  \(\/nix\/store\/[^ ]*\)/\1/p" "$log")
  if [[ -n $missing ]]; then
    fail missing-path "$(wc -l <<<"$missing") path(s) of the closure are not in the cache" \
      path "$(head -n1 <<<"$missing")"
  fi
  fail fetch-failed "$(grep -m1 '^error:' "$log" | sed 's/^error: //')" path "$path"
}

# Realises PATH from the cache, printing `stage=fetch paths=I/N bytes=B/T` as each path starts downloading.
fetch() {
  local path=$1 dry total=0 fetched=0 bytes=0 total_bytes=0 line p log rc
  local -A size=()
  dry="$state_dir/dry-run.log"
  log="$state_dir/fetch.log"
  nix-store --realise --dry-run "${nix_opts[@]}" "$path" >/dev/null 2>"$dry" || fetch_failure "$dry" "$path"
  grep -q "don't know how to build\|unable to download" "$dry" && fetch_failure "$dry" "$path"
  mapfile -t to_fetch < <(sed -n '/will be fetched/,/^[^ ]/s/^  \(\/nix\/store\/[^ ]*\)$/\1/p' "$dry")
  total=${#to_fetch[@]}
  # Download sizes are a nicety for the progress line: a cache that cannot answer path-info only loses the bytes.
  if ((total > 0)); then
    while read -r p n; do
      size[$p]=$n
      total_bytes=$((total_bytes + n))
    done < <(nix path-info --json --option extra-experimental-features nix-command --store "$(json '.cache.url')" \
      "${nix_opts[@]}" "${to_fetch[@]}" 2>/dev/null |
      jq -r 'if type == "array" then .[] | [.path, (.downloadSize // 0)]
             else to_entries[] | [.key, (.value.downloadSize // 0)] end | @tsv' 2>/dev/null)
  fi
  stage fetch paths "0/$total" bytes "0/$total_bytes"
  ((total > 0)) || return 0
  : >"$log"
  while IFS= read -r line; do
    printf '%s\n' "$line" >>"$log"
    if [[ $line =~ ^copying\ path\ \'(/nix/store/[^\']+)\'\ from ]]; then
      p=${BASH_REMATCH[1]}
      fetched=$((fetched + 1))
      bytes=$((bytes + ${size[$p]:-0}))
      stage fetch paths "$fetched/$total" bytes "$bytes/$total_bytes"
    fi
  done < <(nix-store --realise "${nix_opts[@]}" "$path" 2>&1 >/dev/null; printf 'exit-code %s\n' "$?")
  rc=$(sed -n 's/^exit-code //p' "$log" | tail -n1)
  [[ $rc == 0 ]] || fetch_failure "$log" "$path"
  # A Nix that logs no `copying path` lines still ends the progress at N/N.
  ((fetched == total)) || stage fetch paths "$total/$total" bytes "$total_bytes/$total_bytes"
}

switch_toplevel() {
  local toplevel=$1 rc
  if [[ $(readlink -f "$current_system" 2>/dev/null) == "$toplevel" ]]; then
    stage 'done' result current toplevel "$toplevel"
    return 0
  fi
  obtain "$toplevel"
  [[ -x $toplevel/bin/switch-to-configuration ]] ||
    fail not-a-toplevel "$toplevel has no bin/switch-to-configuration" path "$toplevel"
  nix-env --profile "$system_profile" --set "$toplevel" >/dev/null 2>&1 ||
    fail profile "cannot set $system_profile to $toplevel" path "$toplevel"
  stage profile path "$system_profile"
  stage switch toplevel "$toplevel"
  "$toplevel/bin/switch-to-configuration" switch </dev/null 2>&1 | tee -a "$log_file"
  rc=${PIPESTATUS[0]}
  # 100: the new system cannot be switched to live (e.g. a changed initrd or systemd): it is the boot default now,
  # so a reboot starts it, and this agent then finds it current.
  if ((rc == 100)); then
    stage reboot toplevel "$toplevel"
    sh -c "$reboot_cmd"
    return 0
  fi
  ((rc == 0)) || fail switch-failed "switch-to-configuration exited with status $rc" code "$rc"
  stage 'done' result switched toplevel "$toplevel"
}

run_binary() {
  local binary=$1 store_path args=() rc
  store_path=$(cut -d/ -f1-4 <<<"$binary")
  obtain "$store_path"
  [[ -x $binary ]] || fail not-executable "$binary is not an executable file" path "$binary"
  mapfile -d '' -t args < <(jq -j '.binary.args[]? | tostring + "\u0000"' "$user_data")
  stage run path "$binary"
  "$binary" "${args[@]}" </dev/null 2>&1 | tee -a "$log_file"
  rc=${PIPESTATUS[0]}
  # The job is over whatever its status: the machine powers off and the reaper destroys it.
  stage poweroff exit "$rc"
  destroy_self now || sh -c "$poweroff_cmd"
}

# destroy_self now|due: asks the cloud reaper's destroy-self web action to destroy this machine (`due`: only if its
# deadline passed). The code and the auth string go in files (0600, in the root-only state dir), never in a process
# argument. Returns 0 when the reaper answered (destroyed, or not due), 1 when there is no reaper or no answer.
destroy_self() {
  local mode=$1 url http result body=$state_dir/destroy-self.request headers=$state_dir/destroy-self.headers
  local answer=$state_dir/destroy-self.answer
  url=$(json '.reaper.url')
  [[ -n $url ]] || return 1
  (umask 077 &&
    jq -c --arg mode "$mode" '{runId: .reaper.runId, code: .reaper.code, onlyIfDue: ($mode == "due")}' "$user_data" >"$body" &&
    jq -r '"X-Require-Whisk-Auth: " + .reaper.auth' "$user_data" >"$headers") || return 1
  http=$(curl -sS --connect-timeout 5 --max-time 150 -o "$answer" -w '%{http_code}' -X POST \
    -H 'Content-Type: application/json' -H @"$headers" --data-binary @"$body" "$url" 2>/dev/null) || http=000
  rm -f "$body" "$headers"
  case $http in
    200) result=$(jq -r 'if (.destroyed // [] | length) > 0 then "destroyed" else "not-due" end' "$answer" 2>/dev/null) ;;
    000) result=unreachable ;;
    *) result=refused ;;
  esac
  stage destroy-self mode "$mode" http "$http" result "${result:-refused}" \
    message "$(jq -r '.error // empty' "$answer" 2>/dev/null | head -c 300)"
  [[ $http == 200 ]]
}

boot() {
  local toplevel binary
  if [[ ! -s $user_data ]]; then
    stage 'done' result bare
    return 0
  fi
  toplevel=$(json '.toplevel')
  binary=$(json '.binary.path')
  if [[ -n $toplevel ]]; then
    switch_toplevel "$toplevel"
  elif [[ -n $binary ]]; then
    run_binary "$binary"
  else
    stage 'done' result bare
  fi
}

main() {
  local phase=${1:-all}
  # Created before the first line so that the log file can take it; nothing here is readable by other users.
  if ! { mkdir -p "$state_dir" && chmod 700 "$state_dir"; }; then
    printf 'thebacknd: stage=failed reason=state-dir message="cannot create %s"\n' "$state_dir"
    exit 1
  fi
  for tool in curl jq nix-store nix-env; do
    command -v "$tool" >/dev/null || fail missing-tool "$tool is not on PATH"
  done
  case $phase in
    keys)
      fetch_metadata
      check_user_data
      install_keys
      lock_metadata
      ;;
    boot)
      [[ -e $user_data ]] || fetch_metadata
      check_user_data
      boot
      ;;
    all)
      fetch_metadata
      check_user_data
      install_keys
      lock_metadata
      boot
      ;;
    checkin)
      [[ -e $user_data ]] || fetch_metadata
      [[ -z $(json '.reaper.url') ]] || destroy_self due || true
      ;;
    *) fail usage "usage: thebacknd-agent [keys|boot|all|checkin]" ;;
  esac
}

# Sourced (tests of single functions): define only.
[[ ${BASH_SOURCE[0]} != "$0" ]] || main "$@"
