#!/bin/sh
# Downloads the ReadySet installer for this machine, checks it against the SHA-256
# published with this script, and runs it with the arguments given:
#
#   curl -fsSL https://launch.readyset.io/readyset-orchestrator.sh | sh
#   curl -fsSL https://launch.readyset.io/readyset-orchestrator.sh | sh -s -- templates
#
# Environment:
#   READYSET_INSTALLER_BASE_URL        download from this URL instead of the published one
#   READYSET_INSTALLER_SKIP_CHECKSUM=1 run the installer unverified when no SHA-256 tool
#                                      (sha256sum, shasum, openssl) exists; a checksum
#                                      mismatch is never ignored
#
# `cargo xtask publish-installer` fills in the values between @@ marks; this file as
# committed is a template and refuses to run.
set -eu

readyset_tag="@@READYSET_TAG@@"
base_url="${READYSET_INSTALLER_BASE_URL:-@@PUBLIC_BASE_URL@@}"
supported="Linux x86_64 (glibc or musl), macOS x86_64, macOS arm64"

say() { printf 'readyset-orchestrator: %s\n' "$*" >&2; }
fail() {
  say "error: $*"
  exit 1
}

# Prints the published name of the installer for this machine.
detect_platform() {
  os=$(uname -s)
  arch=$(uname -m)
  case "$os" in
    Linux)
      # One static (musl) build serves glibc and musl systems alike.
      case "$arch" in
        x86_64 | amd64) echo x86_64-unknown-linux-gnu ;;
        *) return 1 ;;
      esac
      ;;
    Darwin)
      # A shell running under Rosetta reports x86_64 on Apple silicon: use the native build.
      if [ "$arch" = x86_64 ] && [ "$(sysctl -n sysctl.proc_translated 2>/dev/null || true)" = 1 ]; then
        arch=arm64
      fi
      case "$arch" in
        arm64 | aarch64) echo aarch64-apple-darwin ;;
        x86_64) echo x86_64-apple-darwin ;;
        *) return 1 ;;
      esac
      ;;
    *) return 1 ;;
  esac
}

expected_sha256() {
  case "$1" in
    x86_64-unknown-linux-gnu) echo "@@SHA256:x86_64-unknown-linux-gnu@@" ;;
    x86_64-apple-darwin) echo "@@SHA256:x86_64-apple-darwin@@" ;;
    aarch64-apple-darwin) echo "@@SHA256:aarch64-apple-darwin@@" ;;
  esac
}

download() {
  url=$1
  out=$2
  case "$url" in
    https://*) secure=1 ;;
    *)
      secure=0
      say "warning: downloading over plain HTTP from $url"
      ;;
  esac
  if command -v curl >/dev/null 2>&1; then
    if [ "$secure" = 1 ]; then
      curl --fail --silent --show-error --location --proto '=https' --tlsv1.2 --output "$out" "$url"
    else
      curl --fail --silent --show-error --location --output "$out" "$url"
    fi
  elif command -v wget >/dev/null 2>&1; then
    if [ "$secure" = 1 ]; then
      wget --quiet --https-only --secure-protocol=TLSv1_2 --output-document="$out" "$url"
    else
      wget --quiet --output-document="$out" "$url"
    fi
  else
    fail "neither curl nor wget is installed; install one of them and run this again"
  fi
}

# Prints the SHA-256 of a file, or fails when no tool for it exists.
sha256_of() {
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum "$1" | cut -d ' ' -f 1
  elif command -v shasum >/dev/null 2>&1; then
    shasum -a 256 "$1" | cut -d ' ' -f 1
  elif command -v openssl >/dev/null 2>&1; then
    openssl dgst -sha256 "$1" | sed 's/^.*= *//'
  else
    return 1
  fi
}

case "$readyset_tag" in
  @@*) fail "this is the unrendered template; download the published script from the release location" ;;
esac

platform=$(detect_platform) || fail "unsupported platform: $(uname -s) $(uname -m); the installer runs on $supported"
expected=$(expected_sha256 "$platform")
[ -n "$expected" ] || fail "release $readyset_tag has no installer for $platform; the installer runs on $supported"

tmp=$(mktemp -d 2>/dev/null || mktemp -d -t readyset-installer)
trap 'rm -rf "$tmp"' EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

url="$base_url/binaries/$readyset_tag/$platform"
installer="$tmp/readyset-installer"
download "$url" "$installer" || fail "could not download $url"

if actual=$(sha256_of "$installer"); then
  [ "$actual" = "$expected" ] || fail "the download from $url has SHA-256 $actual, but release $readyset_tag published $expected; not running it"
elif [ "${READYSET_INSTALLER_SKIP_CHECKSUM:-}" = 1 ]; then
  say "warning: no sha256sum, shasum or openssl found; running the installer UNVERIFIED as READYSET_INSTALLER_SKIP_CHECKSUM=1 asks"
else
  fail "cannot verify the download: none of sha256sum, shasum or openssl is installed. Install one (coreutils has sha256sum), or set READYSET_INSTALLER_SKIP_CHECKSUM=1 to run it unverified"
fi

chmod +x "$installer"
status=0
"$installer" "$@" || status=$?
exit "$status"
