"""Start moto's AWS emulator for the xtask's tests and rehearsal.

Why a launcher instead of `moto_server`:
- it binds 127.0.0.1 on a port the kernel picks and prints that port, so two test
  binaries never race for a port;
- it exits when its standard input closes, so the emulator dies with the process that
  started it, even when that process panics or is killed;
- real CloudFront reports a new invalidation as `InProgress` and later `Completed`
  (the SDK waiter matches `Completed` exactly), while moto reports `COMPLETED` at once.
  Here an invalidation reports `InProgress` for INVALIDATION_SECONDS, then `Completed`,
  so the waiter is exercised as it is against AWS.
- real CloudFront answers a second CreateInvalidation with the same caller reference and
  the same paths with the invalidation it already made (and refuses other paths under
  that reference); moto makes a new one each time. Here it behaves as CloudFront does.
- CloudFormation resolves `!GetAtt <NestedStack>.Outputs.<Key>` to the nested stack's
  output, which is how the super stack hands the network's IDs to the other stacks;
  moto's nested stack has no attributes at all and fails the whole request. moto also
  splits the short form `!GetAtt A.Outputs.B` at every dot; CloudFormation splits at
  the first.

With XTASK_EMULATOR_DISTRIBUTION_ID set, the first CloudFront distribution created gets
that ID, so a rehearsal can use the release configuration's distribution unchanged.

With XTASK_EMULATOR_IAM=1, moto enforces IAM from the first request, as AWS does: every
request needs the keys of a user whose policies allow it. The launcher creates an
administrator for setting up (buckets, users with the policies under test) and prints
its keys.

Prints one line, `port=<port>` (and ` admin=<key id>:<secret>` with IAM), once the server
accepts connections.
"""

import logging
import os
import sys
import time

INVALIDATION_SECONDS = float(os.environ.get("XTASK_EMULATOR_INVALIDATION_SECONDS", "1.5"))


def patch_cloudfront_invalidations() -> None:
    from moto.cloudfront import models

    original_init = models.Invalidation.__init__

    def init(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        self._completes_at = time.monotonic() + INVALIDATION_SECONDS

    def status(self):
        return "InProgress" if time.monotonic() < self._completes_at else "Completed"

    def ignore_set(self, _value):
        pass

    models.Invalidation.__init__ = init
    models.Invalidation.status = property(status, ignore_set)

    original_create = models.CloudFrontBackend.create_invalidation

    def create_invalidation(self, dist_id, paths, caller_ref):
        for earlier in self.invalidations.get(dist_id, []):
            if earlier.caller_ref == caller_ref:
                if sorted(earlier.paths) == sorted(paths):
                    return earlier
                raise invalidation_batch_already_exists()
        return original_create(self, dist_id, paths, caller_ref)

    models.CloudFrontBackend.create_invalidation = create_invalidation


def patch_nested_stack_outputs() -> None:
    from moto.cloudformation import models
    from moto.cloudformation.exceptions import UnformattedGetAttTemplateException

    def get_cfn_attribute(self, attribute_name):
        if attribute_name.startswith("Outputs."):
            key = attribute_name[len("Outputs.") :]
            for output in self.output_map.values():
                if output is not None and output.key == key:
                    return output.value
        sys.stderr.write(f"nested stack {self.name} has no {attribute_name}; outputs: {list(self.output_map.outputs)}\n")
        raise UnformattedGetAttTemplateException()

    models.Stack.get_cfn_attribute = get_cfn_attribute

    from moto.cloudformation import responses, utils

    original_constructor = utils.yaml_tag_constructor

    def yaml_tag_constructor(loader, tag, node):
        if tag == "!GetAtt" and isinstance(node.value, str):
            return {"Fn::GetAtt": node.value.split(".", 1)}
        return original_constructor(loader, tag, node)

    # Looked up by name each time a template is parsed.
    for module in (models, responses, utils):
        module.yaml_tag_constructor = yaml_tag_constructor


def patch_distribution_id(wanted: str) -> None:
    from moto.cloudfront import models

    original_init = models.Distribution.__init__

    def init(self, account_id, region_name, config):
        original_init(self, account_id, region_name, config)
        if not getattr(models.Distribution, "_wanted_id_used", False):
            models.Distribution._wanted_id_used = True
            self.distribution_id = self.id = wanted
            self.arn = self.arn.rsplit("/", 1)[0] + "/" + wanted

    models.Distribution.__init__ = init


def invalidation_batch_already_exists() -> Exception:
    from moto.cloudfront.exceptions import CloudFrontException

    return CloudFrontException(
        "InvalidationBatchAlreadyExists",
        "The caller reference you attempted to create the invalidation with is "
        "already in use for a different batch.",
    )


def patch_cloudfront_signatures() -> None:
    """moto verifies a CloudFront request's SigV4 signature over a request that differs
    from the one the SDKs sign, and refuses every one. For CloudFront alone the key is
    identified and its policies are enforced, but the signature is not recomputed."""
    from moto.iam import access_control

    original = access_control.IAMRequestBase.check_signature

    def check_signature(self):
        if self._service != "cloudfront":
            original(self)

    access_control.IAMRequestBase.check_signature = check_signature


def create_administrator() -> str:
    import json

    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.iam.models import iam_backends

    iam = iam_backends[DEFAULT_ACCOUNT_ID]["global"]
    iam.create_user(region_name="us-east-1", user_name="xtask-emulator-admin")
    everything = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    iam.put_user_policy("xtask-emulator-admin", "everything", json.dumps(everything))
    key = iam.create_access_key("xtask-emulator-admin")
    return f"{key.access_key_id}:{key.secret_access_key}"


def exit_when_parent_goes_away() -> None:
    sys.stdin.read()
    os._exit(0)


def main() -> None:
    iam = os.environ.get("XTASK_EMULATOR_IAM") == "1"
    if iam:
        # Read by moto when it is imported: enforce IAM from the first request on.
        os.environ["INITIAL_NO_AUTH_ACTION_COUNT"] = "0"
    try:
        from moto.moto_server.threaded_moto_server import ThreadedMotoServer
    except ImportError as error:
        sys.stderr.write(
            f"moto is not installed for {sys.executable} ({error}).\n"
            "Install it with `cargo xtask ci` (it creates target/ci-venv) "
            "or `pip install 'moto[server]'`.\n"
        )
        sys.exit(3)
    # werkzeug logs every request to stderr; the tests' output should stay readable.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    patch_cloudfront_invalidations()
    patch_nested_stack_outputs()
    if os.environ.get("XTASK_EMULATOR_DISTRIBUTION_ID"):
        patch_distribution_id(os.environ["XTASK_EMULATOR_DISTRIBUTION_ID"])
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    _, port = server.get_host_and_port()
    if iam:
        patch_cloudfront_signatures()
    admin = f" admin={create_administrator()}" if iam else ""
    print(f"port={port}{admin}", flush=True)
    exit_when_parent_goes_away()


if __name__ == "__main__":
    main()
