{
# Checks what `curl -fsSL @@PUBLIC_BASE_URL@@/readyset-orchestrator.sh | sh` installs
# now against the ReadySet release signing key, and stops at the first thing that
# differs, with a non-zero exit:
#
#   sh readyset-check.sh readyset-release-signing-key.pem [RELEASE]
#
# The key is the PEM file ReadySet publishes on its website; get it from there, not
# from the server this script checks. RELEASE, when given, is the release you expect
# to be current (from ReadySet's announcement).
#
# What it checks, in order:
#  1. current-release.txt, the pointer to the current release: signed by the key; it
#     names RELEASE when given; its sequence is not lower than the last pointer this
#     script accepted on this machine (kept in ${XDG_STATE_HOME:-$HOME/.local/state}/
#     readyset-check), so an older pointer put back is refused;
#  2. that release's manifest.json: signed by the key, the one the pointer names by
#     SHA-256, and naming that release;
#  3. readyset-orchestrator.sh, the script `curl | sh` runs: the one the pointer and the
#     manifest name by SHA-256;
#  4. every installer and every CloudFormation template and amis.json the manifest
#     lists, by SHA-256.
# It needs curl and openssl, and downloads over HTTPS only.
#
# Environment (for a mirror or a test): READYSET_CHECK_BASE_URL and
# READYSET_CHECK_TEMPLATE_BASE_URL, both https:// URLs.
#
# `cargo xtask publish-installer` fills in the values between @@ marks.
set -eu

base_url="${READYSET_CHECK_BASE_URL:-@@PUBLIC_BASE_URL@@}"
template_base_url="${READYSET_CHECK_TEMPLATE_BASE_URL:-@@TEMPLATE_BASE_URL@@}"
state_dir="${XDG_STATE_HOME:-${HOME:-/nonexistent}/.local/state}/readyset-check"
work_dir=

say() { printf 'readyset-check: %s\n' "$*"; }
fail() {
  printf 'readyset-check: FAILED: %s\n' "$*" >&2
  exit 1
}

fetch() {
  curl --fail --silent --show-error --proto '=https' --proto-redir '=https' --tlsv1.2 --output "$2" "$1" </dev/null ||
    fail "could not download $1 (curl says why above); check the address and your connection, and run this again"
}

sha256_of() {
  openssl dgst -sha256 -r "$1" | cut -d ' ' -f 1
}

# Verifies the signature in file $2 over file $1, or fails naming $3.
signed() {
  openssl dgst -sha256 -verify "$key" -signature "$2" "$1" >/dev/null 2>&1 ||
    fail "$3 is not signed by $key"
}

# Prints the value of the pointer's line "$1 <value>".
pointer_field() {
  sed -n "s/^$1 //p" "$work_dir/pointer.body"
}

check_pointer() {
  fetch "$base_url/current-release.txt" "$work_dir/pointer"
  sed '$d' "$work_dir/pointer" >"$work_dir/pointer.body"
  sed -n '$s/^signature //p' "$work_dir/pointer" | openssl base64 -d -A >"$work_dir/pointer.sig" 2>/dev/null ||
    fail "current-release.txt does not end with a signature line"
  signed "$work_dir/pointer.body" "$work_dir/pointer.sig" "current-release.txt"
  [ "$(sed -n 1p "$work_dir/pointer.body")" = "readyset-release-pointer 1" ] ||
    fail "current-release.txt is not a release pointer this script knows (first line: $(sed -n 1p "$work_dir/pointer.body"))"
  release=$(pointer_field release)
  sequence=$(pointer_field sequence)
  pointer_sha256=$(sha256_of "$work_dir/pointer")
  if [ -n "$expected_release" ] && [ "$release" != "$expected_release" ]; then
    fail "the current release is $release (pointer $sequence), not $expected_release"
  fi
  check_sequence
  say "ok: current-release.txt is signed and names release $release (pointer $sequence)"
}

# Refuses a pointer older than the last one accepted here, or another pointer with the
# same sequence.
check_sequence() {
  [ -r "$state_dir/pointer" ] || return 0
  seen_sequence=$(cut -d ' ' -f 1 "$state_dir/pointer")
  seen_sha256=$(cut -d ' ' -f 2 "$state_dir/pointer")
  if [ "$sequence" -lt "$seen_sequence" ]; then
    fail "current-release.txt is pointer $sequence, older than pointer $seen_sequence this machine accepted before: an older pointer was put back"
  fi
  if [ "$sequence" -eq "$seen_sequence" ] && [ "$pointer_sha256" != "$seen_sha256" ]; then
    fail "current-release.txt is pointer $sequence, but not the pointer $sequence this machine accepted before"
  fi
}

check_manifest() {
  manifest="$work_dir/manifest.json"
  fetch "$base_url/binaries/$release/manifest.json" "$manifest"
  fetch "$base_url/binaries/$release/manifest.json.sig" "$work_dir/manifest.json.sig"
  signed "$manifest" "$work_dir/manifest.json.sig" "binaries/$release/manifest.json"
  [ "$(sha256_of "$manifest")" = "$(pointer_field manifest-sha256)" ] ||
    fail "binaries/$release/manifest.json is signed, but it is not the manifest the pointer names: another release's manifest under this name"
  named=$(sed -n 's/^  "tag": "\(.*\)",$/\1/p' "$manifest")
  [ "$named" = "$release" ] || fail "binaries/$release/manifest.json names release $named, not $release"
  say "ok: binaries/$release/manifest.json is signed and is the one the pointer names"
}

check_wrapper() {
  fetch "$base_url/readyset-orchestrator.sh" "$work_dir/wrapper"
  actual=$(sha256_of "$work_dir/wrapper")
  [ "$actual" = "$(pointer_field wrapper-sha256)" ] ||
    fail "readyset-orchestrator.sh has SHA-256 $actual, not the $(pointer_field wrapper-sha256) the pointer names"
  listed=$(sed -n 's/^  "wrapper_sha256": "\([0-9a-f]*\)",\{0,1\}$/\1/p' "$manifest")
  [ "$actual" = "$listed" ] || fail "readyset-orchestrator.sh has SHA-256 $actual, not the ${listed:-(none)} the manifest lists"
  say "ok: readyset-orchestrator.sh is the wrapper of $release"
}

# Every installer and template the manifest lists, as "<url> <sha256>" lines.
listed_files() {
  awk -F '"' -v binaries="$base_url/binaries/$release/" -v templates="$template_base_url/" '
    $2 == "published_name" { url = binaries $4 }
    $2 == "key" { url = templates $4; template = 1 }
    $2 == "sha256" && url != "" { print url, $4; url = "" }
    END { if (!template) exit 1 }' "$manifest"
}

check_files() {
  listed_files >"$work_dir/files" || fail "the manifest of $release lists no templates, so they cannot be checked"
  count=0
  while read -r url sha256; do
    fetch "$url" "$work_dir/file"
    actual=$(sha256_of "$work_dir/file")
    [ "$actual" = "$sha256" ] || fail "$url has SHA-256 $actual, not the $sha256 the manifest lists"
    count=$((count + 1))
  done <"$work_dir/files"
  say "ok: $count installers, templates and amis.json are as the manifest lists"
}

main() {
  case "$base_url" in
    @@*) fail "this is the unrendered template; download the published readyset-check.sh" ;;
  esac
  case $# in
    1 | 2) ;;
    *) fail "usage: sh readyset-check.sh <release signing key PEM> [release]" ;;
  esac
  key=$1
  expected_release=${2:-}
  [ -r "$key" ] || fail "cannot read the public key $key; save ReadySet's release signing key there"
  for url in "$base_url" "$template_base_url"; do
    case "$url" in
      https://*) ;;
      *) fail "$url is not an https:// URL; this script downloads over HTTPS only" ;;
    esac
  done
  for tool in curl openssl awk sed cut; do
    command -v "$tool" >/dev/null 2>&1 || fail "$tool is not installed; install it and run this again"
  done
  trap '[ -z "$work_dir" ] || rm -rf "$work_dir"' EXIT
  trap 'exit 129' HUP
  trap 'exit 130' INT
  trap 'exit 143' TERM
  work_dir=$(mktemp -d "${TMPDIR:-/tmp}/readyset-check.XXXXXXXX")
  check_pointer
  check_manifest
  check_wrapper
  check_files
  mkdir -p "$state_dir"
  printf '%s %s\n' "$sequence" "$pointer_sha256" >"$state_dir/pointer"
  say "release $release is what $base_url/readyset-orchestrator.sh installs, as signed"
}

main ${1+"$@"}
}
