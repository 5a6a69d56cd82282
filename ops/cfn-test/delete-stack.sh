#!/usr/bin/env bash
# Deletes a test stack (and its nested stacks) and waits until it is gone.
#
# Usage: delete-stack.sh -n <stack-name> [-r <region>]
set -euo pipefail

usage() {
  echo "usage: $0 -n <stack-name> [-r <region>]" >&2
  exit 2
}

name=""
region="${AWS_REGION:-${AWS_DEFAULT_REGION:-us-east-2}}"
while [ $# -gt 0 ]; do
  case "$1" in
    -n) name="${2:-}"; shift 2 || usage ;;
    -r) region="${2:-}"; shift 2 || usage ;;
    -h | --help) usage ;;
    *) echo "unknown argument: $1" >&2; usage ;;
  esac
done
[ -n "$name" ] || { echo "error: -n <stack-name> is required" >&2; usage; }

cf() { aws cloudformation --region "$region" "$@"; }

if ! cf describe-stacks --stack-name "$name" >/dev/null 2>&1; then
  echo "No stack named $name in $region; nothing to delete."
  exit 0
fi
echo "Deleting stack $name in $region..."
cf delete-stack --stack-name "$name"
cf wait stack-delete-complete --stack-name "$name"
echo "Deleted $name."
