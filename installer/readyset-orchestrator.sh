{
# Downloads the ReadySet installer for this machine, checks it against the SHA-256
# published with this script, and runs it with the arguments given:
#
#   curl -fsSL https://launch.readyset.io/readyset-orchestrator.sh | sh
#   curl -fsSL https://launch.readyset.io/readyset-orchestrator.sh | sh -s -- templates
#
# The whole script is one brace group, and the first byte opens it: the shell reads
# to the closing brace on the last line before it runs anything, so a download cut
# short at any byte is a syntax error that runs nothing. (installer/.shellcheckrc
# tells shellcheck the dialect a shebang would have named.)
#
# Environment:
#   READYSET_INSTALLER_BASE_URL        download from this https:// URL instead of the
#                                      published one; anything but HTTPS is refused, and
#                                      so is a redirect to anything but HTTPS
#   READYSET_INSTALLER_SKIP_CHECKSUM=1 run the installer unverified when no SHA-256 tool
#                                      (sha256sum, shasum, openssl) exists; a checksum
#                                      mismatch is never ignored, and nothing is ever
#                                      downloaded but over HTTPS
#   TMPDIR                             where the download is kept while it runs; when it
#                                      cannot hold a program that runs (missing, read-only,
#                                      mounted noexec), a directory under
#                                      ${XDG_CACHE_HOME:-$HOME/.cache} is used instead
#
# `cargo xtask publish-installer` fills in the values between @@ marks; this file as
# committed is a template and refuses to run.
set -eu

readyset_tag="@@READYSET_TAG@@"
base_url="${READYSET_INSTALLER_BASE_URL:-@@PUBLIC_BASE_URL@@}"
supported="Linux x86_64 (glibc or musl), macOS x86_64, macOS arm64"
work_dir=

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

# Makes a directory under $1 in which a downloaded program can run, and prints it.
# A directory that cannot (a noexec mount) is removed again and reported as failed.
executable_dir_under() {
  [ -d "$1" ] && [ -w "$1" ] || return 1
  dir=$(mktemp -d "$1/readyset-installer.XXXXXXXX" 2>/dev/null) || return 1
  if printf '#!/bin/sh\nexit 0\n' >"$dir/probe" && chmod +x "$dir/probe" && "$dir/probe" 2>/dev/null; then
    rm -f "$dir/probe"
  else
    rm -rf "$dir"
    return 1
  fi
  echo "$dir"
}

make_work_dir() {
  temp=${TMPDIR:-/tmp}
  temp=${temp%/}
  if work_dir=$(executable_dir_under "${temp:-/}"); then
    return 0
  fi
  cache="${XDG_CACHE_HOME:-${HOME:-/nonexistent}/.cache}/readyset-installer"
  if mkdir -p "$cache" 2>/dev/null && work_dir=$(executable_dir_under "$cache"); then
    say "note: ${TMPDIR:+TMPDIR=}${temp} cannot hold a program that runs (missing, read-only or mounted noexec); using $cache"
    return 0
  fi
  fail "found no directory to run the installer from: ${TMPDIR:+TMPDIR=}${temp} and $cache are missing, read-only or mounted noexec. Set TMPDIR to a writable directory on a filesystem that allows running programs, and run this again"
}

# Fails when a server response in the log named in $1 redirected to anything but
# HTTPS. A Location without a scheme (a path, or //host/path) stays on HTTPS.
refuse_insecure_redirect() {
  command -v grep >/dev/null 2>&1 || fail "cannot check where wget's download of $2 was redirected: grep is not installed; install grep or curl and run this again"
  location=$(grep -i '^ *location: *[a-z][a-z0-9+.-]*:' "$1" | grep -v -i '^ *location: *https://' |
    sed -n '1s/^ *[^:]*: *//p')
  [ -z "$location" ] || fail "the server redirected the download of $2 to $location, which is not HTTPS; refusing it. Report this to ReadySet"
}

download() {
  url=$1
  out=$2
  if command -v curl >/dev/null 2>&1; then
    # --proto also covers redirects; --tlsv1.2 means TLS 1.2 or later.
    curl --fail --silent --show-error --location --proto '=https' --proto-redir '=https' --tlsv1.2 \
      --output "$out" "$url"
  elif command -v wget >/dev/null 2>&1; then
    # GNU wget follows a redirect to HTTP or FTP even with --https-only, and BusyBox
    # wget knows no TLS options at all: both print the responses (-S), which are
    # checked for such a redirect before the download is used, also when it failed.
    wget_status=0
    wget -S -O "$out" "$url" 2>"$work_dir/wget.log" || wget_status=$?
    refuse_insecure_redirect "$work_dir/wget.log" "$url"
    if [ "$wget_status" != 0 ]; then
      sed 's/^/  /' "$work_dir/wget.log" >&2
      return 1
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

verify() {
  if actual=$(sha256_of "$1"); then
    [ "$actual" = "$2" ] || fail "the download from $3 has SHA-256 $actual, but release $readyset_tag published $2; not running it"
  elif [ "${READYSET_INSTALLER_SKIP_CHECKSUM:-}" = 1 ]; then
    say "warning: no sha256sum, shasum or openssl found; running the installer UNVERIFIED as READYSET_INSTALLER_SKIP_CHECKSUM=1 asks"
  else
    fail "cannot verify the download: none of sha256sum, shasum or openssl is installed. Install one (coreutils has sha256sum), or set READYSET_INSTALLER_SKIP_CHECKSUM=1 to run it unverified"
  fi
}

main() {
  case "$readyset_tag" in
    @@*) fail "this is the unrendered template; download the published script from the release location" ;;
  esac
  case "$base_url" in
    https://*) ;;
    *) fail "READYSET_INSTALLER_BASE_URL is $base_url, but the installer is downloaded over HTTPS only; set it to an https:// URL, or unset it to download from the published location" ;;
  esac
  platform=$(detect_platform) || fail "unsupported platform: $(uname -s) $(uname -m); the installer runs on $supported"
  expected=$(expected_sha256 "$platform")
  [ -n "$expected" ] || fail "release $readyset_tag has no installer for $platform; the installer runs on $supported"

  # The traps come first, so no exit leaves the directory behind.
  trap '[ -z "$work_dir" ] || rm -rf "$work_dir"' EXIT
  trap 'exit 129' HUP
  trap 'exit 130' INT
  trap 'exit 143' TERM
  make_work_dir

  url="$base_url/binaries/$readyset_tag/$platform"
  installer="$work_dir/readyset-installer"
  download "$url" "$installer" || fail "could not download $url"
  verify "$installer" "$expected" "$url"
  chmod +x "$installer"

  # The installer asks its questions on the terminal, never on this script's pipe,
  # and reads nothing from standard input.
  # It names the command to run next in the form the customer used.
  READYSET_INSTALLER_COMMAND="@@CUSTOMER_COMMAND@@ -s --"
  export READYSET_INSTALLER_COMMAND
  status=0
  "$installer" ${1+"$@"} </dev/null || status=$?
  exit "$status"
}

main ${1+"$@"}
}
