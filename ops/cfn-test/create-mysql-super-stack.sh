#!/usr/bin/env bash
# Creates a ReadySet-for-MySQL test stack from the templates the pipeline uploaded for a
# commit, waits for it, and prints how to connect. A failed creation is deleted unless
# --keep-on-failure is given.
#
# Usage: create-mysql-super-stack.sh -c <commit> -k <ssh-key-name> -a <ssh-cidr> -s <secret>
#          [-r <region>] [-n <stack-name>] [-z <zone>] [-p Key=Value]... [--keep-on-failure]
#
# -s names the Secrets Manager secret (name or ARN) whose value is the upstream MySQL
# URL the adapter reads at boot; it must exist. -z is the zone of a new VPC; by default
# the first zone that offers all of the stacks' instance types. -p passes any other
# parameter of the super stack, such as -p VpcId=vpc-... for an existing VPC.
#
# CloudFormation creates the stack with the test-stack role (`--role-arn`; its policy is
# `cargo xtask iam-policy test-stacks`), not with the caller's credentials: the caller
# needs only to pass that role. The stack makes IAM roles, hence CAPABILITY_IAM.
#
# Credentials and AWS_ENDPOINT_URL come from the environment, as for any `aws` command.
set -euo pipefail

# The internal templates bucket; the tests check this against [workspace.metadata.release].
TEMPLATE_BUCKET="readysettech-cfn-internal-us-east-2"
TEMPLATE_BUCKET_REGION="us-east-2"
# The role CloudFormation assumes; the tests check this against test-stack-role.
TEST_STACK_ROLE="readyset-cfn-test-stacks"
# The instance types the super stack launches by default (bastion, server, adapter).
INSTANCE_TYPES="t3.micro m5.large t3.large"

usage() {
  echo "usage: $0 -c <commit> -k <ssh-key-name> -a <ssh-cidr> -s <secret> [-r <region>] [-n <stack-name>] [-z <zone>] [-p Key=Value]... [--keep-on-failure]" >&2
  exit 2
}

commit=""
key=""
ssh_cidr=""
secret=""
region="${AWS_REGION:-${AWS_DEFAULT_REGION:-us-east-2}}"
name=""
zone=""
extra=()
keep_on_failure=0
while [ $# -gt 0 ]; do
  case "$1" in
    -c) commit="${2:-}"; shift 2 || usage ;;
    -k) key="${2:-}"; shift 2 || usage ;;
    -a) ssh_cidr="${2:-}"; shift 2 || usage ;;
    -s) secret="${2:-}"; shift 2 || usage ;;
    -r) region="${2:-}"; shift 2 || usage ;;
    -n) name="${2:-}"; shift 2 || usage ;;
    -z) zone="${2:-}"; shift 2 || usage ;;
    -p)
      [[ "${2:-}" =~ ^[A-Za-z0-9]+=.*$ ]] || { echo "error: -p '${2:-}' is not Key=Value, such as -p VpcId=vpc-0123456789abcdef0" >&2; usage; }
      extra+=("ParameterKey=${2%%=*},ParameterValue=${2#*=}"); shift 2 ;;
    --keep-on-failure) keep_on_failure=1; shift ;;
    -h | --help) usage ;;
    *) echo "unknown argument: $1" >&2; usage ;;
  esac
done
[ -n "$key" ] || { echo "error: -k <ssh-key-name> is required: the EC2 key pair to log in with" >&2; usage; }
[ -n "$secret" ] || { echo "error: -s <secret> is required: the Secrets Manager secret holding the upstream MySQL URL" >&2; usage; }
if ! [[ "$ssh_cidr" =~ ^([0-9]{1,3}\.){3}[0-9]{1,3}/[0-9]{1,2}$ ]]; then
  echo "error: -a '$ssh_cidr' is not a CIDR such as 203.0.113.7/32: the addresses allowed to SSH to the bastion" >&2
  usage
fi
if ! [[ "$commit" =~ ^[0-9a-f]{7,40}$ ]]; then
  echo "error: -c '$commit' does not look like a git commit (7 to 40 lowercase hex digits)" >&2
  usage
fi
name="${name:-readyset-test-${commit:0:8}}"
# The deployment is named after the stack, in the form the template accepts.
deployment=$(printf '%s' "${name:0:63}" | tr '[:upper:]' '[:lower:]')
prefix="$commit/readyset/templates"

# The emulator reads such a URL from its own S3, as CloudFormation reads the bucket.
template_url="https://$TEMPLATE_BUCKET.s3.$TEMPLATE_BUCKET_REGION.amazonaws.com/$prefix/readyset-mysql-super.yaml"

cf() { aws cloudformation --region "$region" "$@"; }

if ! secret_arn=$(aws secretsmanager --region "$region" describe-secret --secret-id "$secret" --query ARN --output text); then
  echo "error: no secret '$secret' in $region (see the message above); create it with:" >&2
  echo "  aws secretsmanager create-secret --region $region --name $secret --secret-string 'mysql://user:password@host:3306/database'" >&2
  exit 1
fi

if [ -z "$zone" ]; then
  zone=$(aws ec2 describe-instance-type-offerings --region "$region" --location-type availability-zone \
    --filters "Name=instance-type,Values=${INSTANCE_TYPES// /,}" --query 'InstanceTypeOfferings[].[Location]' --output text |
    sort | uniq -c | awk -v want="$(wc -w <<< "$INSTANCE_TYPES")" '$1 == want { print $2; exit }')
  if [ -z "$zone" ]; then
    echo "error: no zone of $region offers all of $INSTANCE_TYPES; pass one with -z" >&2
    exit 1
  fi
fi
account=$(aws sts get-caller-identity --query Account --output text)
role_arn="arn:aws:iam::$account:role/$TEST_STACK_ROLE"
# The test-stack role makes roles only under this boundary (xtask iam-policy test-stacks).
boundary_arn="arn:aws:iam::$account:policy/$TEST_STACK_ROLE-instance-boundary"

if status=$(cf describe-stacks --stack-name "$name" --query 'Stacks[0].StackStatus' --output text 2>/dev/null); then
  echo "error: stack $name already exists ($status). Delete it with: ops/cfn-test/delete-stack.sh -n $name -r $region" >&2
  exit 1
fi

echo "Creating stack $name in $region (zone $zone) from $template_url, as $role_arn"
created=1
cf create-stack \
  --stack-name "$name" \
  --template-url "$template_url" \
  --on-failure DO_NOTHING \
  --role-arn "$role_arn" \
  --capabilities CAPABILITY_IAM \
  --tags "Key=readyset:test-stack,Value=true" "Key=readyset:commit,Value=$commit" \
  --parameters \
  "ParameterKey=DeploymentName,ParameterValue=$deployment" \
  "ParameterKey=UpstreamDatabaseSecretArn,ParameterValue=$secret_arn" \
  "ParameterKey=KeyName,ParameterValue=$key" \
  "ParameterKey=SshCidr,ParameterValue=$ssh_cidr" \
  "ParameterKey=AvailabilityZone,ParameterValue=$zone" \
  "ParameterKey=RolePermissionsBoundary,ParameterValue=$boundary_arn" \
  "ParameterKey=TemplateBucket,ParameterValue=$TEMPLATE_BUCKET" \
  "ParameterKey=TemplateBucketRegion,ParameterValue=$TEMPLATE_BUCKET_REGION" \
  "ParameterKey=TemplatePrefix,ParameterValue=$prefix" ${extra[@]+"${extra[@]}"} >/dev/null || created=0

# A create call can fail after CloudFormation registered the stack, so every failure
# takes the same path: report, then delete whatever exists unless asked to keep it.
if [ "$created" = 0 ] || ! cf wait stack-create-complete --stack-name "$name"; then
  if ! cf describe-stacks --stack-name "$name" >/dev/null 2>&1; then
    echo "error: creating $name failed before anything was created; see the message above" >&2
    exit 1
  fi
  reason=$(cf describe-stack-events --stack-name "$name" \
    --query "StackEvents[?ResourceStatus=='CREATE_FAILED'].[LogicalResourceId,ResourceStatusReason]" --output text 2>/dev/null | head -n 3)
  echo "error: creating $name failed: ${reason:-no reason reported}" >&2
  if [ "$keep_on_failure" = 1 ]; then
    echo "Kept for inspection (--keep-on-failure). Delete it with: ops/cfn-test/delete-stack.sh -n $name -r $region" >&2
  else
    echo "Deleting what was created..." >&2
    cf delete-stack --stack-name "$name"
    cf wait stack-delete-complete --stack-name "$name"
    echo "Deleted $name." >&2
  fi
  exit 1
fi

# Nested stacks hold the addresses; read their own outputs.
nested_output() {
  local stack
  stack=$(cf describe-stack-resource --stack-name "$name" --logical-resource-id "$1" \
    --query StackResourceDetail.PhysicalResourceId --output text)
  cf describe-stacks --stack-name "$stack" --query "Stacks[0].Outputs[?OutputKey=='$2'].OutputValue" --output text
}
bastion=$(nested_output Bastion PublicIp)
server=$(nested_output Server PrivateIp)
adapter=$(nested_output MysqlAdapter PrivateIp)

cat <<INFO
Stack $name is ready.
  bastion (public):       $bastion
  ReadySet server:        $server
  MySQL adapter:          $adapter (port 3306)

Connect through the bastion with the private key of key pair '$key':
  ssh -i ~/.ssh/$key.pem admin@$bastion
  ssh -i ~/.ssh/$key.pem -J admin@$bastion admin@$server
  ssh -i ~/.ssh/$key.pem -N -L 3306:$adapter:3306 admin@$bastion   # then mysql -h 127.0.0.1 -P 3306

Delete it when done (it costs money while it runs):
  ops/cfn-test/delete-stack.sh -n $name -r $region
INFO
