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
- EC2's CopyImage is idempotent by ClientToken: a retried call whose first attempt
  landed gets the first copy's ID back. moto ignores the token and copies again. It
  tags the new image and its snapshots as its TagSpecification says; moto ignores it. And
  EC2 describes each snapshot of a copy as "Copied for DestinationAmi <copy> from
  SourceAmi <source> for SourceSnapshot <snapshot>. ..."; moto's say "Auto-created".
- A resource whose Condition is false does not exist: CloudFormation lists only the
  others. moto keeps an empty entry for it and fails DescribeStackResource(s) with a 500.
- The release's own infrastructure (`ops/release-infra/`) deploys as CloudFormation
  deploys it: moto's stacks skip S3 bucket policies, Secrets Manager secrets, EC2 key
  pairs and CloudFront's distributions and origin access controls, ignore a bucket's
  public access block, lifecycle and ownership, and make every KMS key symmetric. Here
  each is made with the service's own model, a key gets its KeySpec and KeyUsage, and a
  distribution's origin keeps its origin access control.
- S3's HEAD with ChecksumMode says the checksum's type (FULL_OBJECT, or COMPOSITE with a
  "-<parts>" suffix for an object uploaded in parts); moto's says neither.
- EC2's EnableImageDeprecation (alpha copies are marked deprecated) is missing from moto;
  here it keeps the time on the image and DescribeImages reports it (deprecationTime).
- HTTPS: CloudFront serves customers over HTTPS only, and the wrapper downloads over
  nothing else. With XTASK_EMULATOR_TLS_DIR set, the same emulator also listens with
  TLS on a second port, with a certificate for 127.0.0.1 made at start and written to
  that directory as cert.pem (key.pem beside it), for the download tools to trust.
- KMS Sign with MessageType DIGEST signs the SHA-256 it is given (what a signature
  over a message longer than KMS's 4096-byte limit for RAW needs); moto ignores the
  type and hashes the digest again, so the signature would not verify over the message.
- A block device mapping may leave out VolumeSize: EC2 then gives the volume the size
  of the image's snapshot (the templates do so, to encrypt the root volume without
  choosing its size). moto refuses such a mapping; here it gets moto's root size, 8 GiB.

With XTASK_EMULATOR_DISTRIBUTION_ID set, the first CloudFront distribution created gets
that ID, so a rehearsal can use the release configuration's distribution unchanged.

With XTASK_EMULATOR_IAM=1, moto enforces IAM from the first request, as AWS does: every
request needs the keys of a user whose policies allow it. The launcher creates an
administrator for setting up (buckets, users with the policies under test) and prints
its keys. As S3 does, a HEAD of a missing key then answers 403 rather than 404 to a
caller without s3:ListBucket on the bucket (moto always answers 404). Calls to services
other than S3 are checked by action only (moto does not know their resources). Unsigned
reads are allowed where a bucket policy makes objects public, as S3 allows them.

- S3 writes are atomic, as in S3: a conditional write (`If-None-Match: *`, `If-Match`)
  checks and writes under one lock, so two writers racing for one key cannot both pass;
  and CopyObject honours those conditions on its destination, as S3 does (moto skips
  them on copies).
- Faults, for the tests of retries: `POST /xtask/faults` with a JSON list of rules, each
  `{"service": "s3", "share": 0.1, "kinds": ["500", "503", "reset", "cut"], "delay": 0}`
  (service from the request's SigV4 scope; unsigned requests, as customers make them,
  are never faulted). `500` answers InternalError, `503` SlowDown, `reset` drops the
  connection before answering, `cut` sends half of the real answer and drops it; `delay`
  (seconds) slows every matching call. An empty list turns faults off.
  `{"service": "ec2", "not_found_first": 2}` plays EC2's eventual consistency instead: an
  image that CopyImage makes is unknown (`InvalidAMIID.NotFound`) to the first 2 calls
  that name it, as AWS warns a new ID can be.
- Pages: moto answers EC2 DescribeImages and KMS ListGrants in one piece; AWS pages them
  (`MaxResults`/`NextToken`, `Limit`/`Marker`). Here they page as AWS does, and the rule
  `{"page_size": 1}` makes every page hold one item, so a caller that reads only the
  first page misses the rest.

- Reset, so that a test binary can hand one emulator to test after test instead of
  starting one per test (about a second of CPU each): `POST /xtask/reset` empties every
  service as moto's own reset does, and also what the launcher keeps (faults off,
  CopyImage's tokens forgotten, the next distribution gets the configured ID again).
  An emulator that enforces IAM is not reset (its administrator would go with it).

Prints one line, `port=<port>` (then ` tls_port=<port>` with a TLS directory and
` admin=<key id>:<secret>` with IAM), once the server accepts connections.
"""

import io
import json
import logging
import os
import random
import socket
import struct
import sys
import threading
import time
import urllib.parse

INVALIDATION_SECONDS = float(os.environ.get("XTASK_EMULATOR_INVALIDATION_SECONDS", "1.5"))

# What each patch must forget on `POST /xtask/reset`, besides moto's own state.
RESETS = []

# The most items a paged answer holds whatever the caller asks (the `page_size` rule).
FORCED_PAGE_SIZE = {"items": None}


def page_size(asked):
    sizes = [int(size) for size in (asked, FORCED_PAGE_SIZE["items"]) if size not in (None, "")]
    return min(sizes) if sizes else None


def patch_pagination() -> None:
    from moto.core.responses import ActionResult
    from moto.ec2.responses import amis
    from moto.kms import responses as kms

    original_images = amis.AmisResponse.describe_images

    def describe_images(self):
        result = original_images(self).result
        size = page_size(self._get_param("MaxResults"))
        if size is None:
            return ActionResult(result)
        images = sorted(result["Images"], key=lambda image: image.id)
        start = int(self._get_param("NextToken") or 0)
        page = {"Images": images[start : start + size]}
        if start + size < len(images):
            page["NextToken"] = str(start + size)
        return ActionResult(page)

    amis.AmisResponse.describe_images = describe_images

    original_grants = kms.KmsResponse.list_grants

    def list_grants(self):
        answer = json.loads(original_grants(self))
        size = page_size(self._get_param("Limit"))
        if size is None:
            return json.dumps(answer)
        grants = answer["Grants"]
        start = int(self._get_param("Marker") or 0)
        answer["Grants"] = grants[start : start + size]
        answer["Truncated"] = start + size < len(grants)
        if answer["Truncated"]:
            answer["NextMarker"] = str(start + size)
        return json.dumps(answer)

    kms.KmsResponse.list_grants = list_grants


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


def patch_copy_image_client_token() -> None:
    from moto.core.responses import ActionResult
    from moto.ec2.responses import amis

    original = amis.AmisResponse.copy_image
    copies = {}
    lock = threading.Lock()
    RESETS.append(copies.clear)

    def copy_and_describe(self):
        made = original(self).result["ImageId"]
        source = self._get_param("SourceImageId")
        copy = self.ec2_backend.describe_images(ami_ids=[made])[0]
        copy.ebs_snapshot.description = (
            f"Copied for DestinationAmi {made} from SourceAmi {source} for SourceSnapshot snap-00000000. "
            "Task created on 2026-01-01T00:00:00Z."
        )
        for spec in self._get_param("TagSpecifications") or self._get_param("TagSpecification") or []:
            tags = {tag["Key"]: tag.get("Value", "") for tag in spec.get("Tag", spec.get("Tags", []))}
            resource = {"image": made, "snapshot": copy.ebs_snapshot.id}[spec["ResourceType"]]
            self.ec2_backend.create_tags([resource], tags)
        return made

    def copy_image(self):
        token = self._get_param("ClientToken")
        key = (self.current_account, self.region, token)
        with lock:
            if not token:
                return ActionResult({"ImageId": copy_and_describe(self)})
            if key not in copies:
                copies[key] = copy_and_describe(self)
            return ActionResult({"ImageId": copies[key]})

    amis.AmisResponse.copy_image = copy_image


def patch_checksum_types() -> None:
    """S3 answers a HEAD asked with ChecksumMode with the checksum's type: FULL_OBJECT for
    an object written whole (its SHA-256 is the bytes'), COMPOSITE with a "-<parts>"
    suffix for one uploaded in parts (a checksum of the parts' checksums). moto's HEAD
    gives neither, so a composite checksum would pass for the bytes'."""
    from moto.s3.responses import S3Response

    original = S3Response.head_object

    def head_object(self, bucket_name, query, key_name, headers):
        status, response_headers, body = original(self, bucket_name, query, key_name, headers)
        if headers.get("x-amz-checksum-mode") != "ENABLED" or not 200 <= status < 300:
            return status, response_headers, body
        key = self.backend.get_object(bucket_name, key_name)
        if key is not None and key.checksum_algorithm and key.checksum_value:
            kind = key.checksum_type or "FULL_OBJECT"
            value = f"{key.checksum_value}-{key.checksum_parts}" if kind == "COMPOSITE" else key.checksum_value
            response_headers[f"x-amz-checksum-{key.checksum_algorithm.lower()}"] = value
            response_headers["x-amz-checksum-type"] = kind
        return status, response_headers, body

    S3Response.head_object = head_object


def patch_image_deprecation() -> None:
    """EC2's EnableImageDeprecation marks an image deprecated from a time, which
    DescribeImages then reports as its DeprecationTime; moto has neither. Here the time is
    kept on the image (an unknown image answers InvalidAMIID.NotFound, as EC2 does)."""
    from moto.core.responses import ActionResult
    from moto.ec2.responses import amis

    def enable_image_deprecation(self):
        self.error_on_dryrun()
        image = self.ec2_backend.describe_images(ami_ids=[self._get_param("ImageId")])[0]
        image.deprecation_time = self._get_param("DeprecateAt")
        return ActionResult({"Return": True})

    amis.AmisResponse.enable_image_deprecation = enable_image_deprecation


def patch_sign_digest() -> None:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, utils
    from moto.kms import responses
    from moto.kms import utils as kms_utils

    digest = threading.local()
    original_response = responses.KmsResponse.sign
    original_key_sign = kms_utils.ECDSAPrivateKey.sign

    def sign(self):
        digest.on = self._get_param("MessageType") == "DIGEST"
        try:
            return original_response(self)
        finally:
            digest.on = False

    def key_sign(self, message, signing_algorithm):
        if getattr(digest, "on", False) and signing_algorithm == "ECDSA_SHA_256":
            return self.private_key.sign(message, ec.ECDSA(utils.Prehashed(hashes.SHA256())))
        return original_key_sign(self, message, signing_algorithm)

    responses.KmsResponse.sign = sign
    kms_utils.ECDSAPrivateKey.sign = key_sign


def patch_resources_not_made() -> None:
    from moto.cloudformation import models

    models.Stack.stack_resources = property(
        lambda self: [resource for resource in self.resource_map.values() if resource is not None]
    )


def patch_mapping_without_size() -> None:
    from moto.ec2.models import instances

    original = instances.Instance.add_block_device

    def add_block_device(self, size, device_path, snapshot_id, *args, **kwargs):
        if size is None and snapshot_id is None:
            size = 8
        return original(self, size, device_path, snapshot_id, *args, **kwargs)

    instances.Instance.add_block_device = add_block_device


def patch_release_infra_resources() -> None:
    """CloudFormation types moto's stacks lack or only half make, for ops/release-infra."""
    from moto.cloudfront import models as cloudfront
    from moto.cloudfront.models import cloudfront_backends
    from moto.core.common_models import CloudFormationModel
    from moto.ec2.models import ec2_backends
    from moto.kms import models as kms
    from moto.kms.models import kms_backends
    from moto.s3 import models as s3
    from moto.s3.models import s3_backends
    from moto.secretsmanager.models import secretsmanager_backends

    original_bucket = s3.FakeBucket.create_from_cloudformation_json.__func__

    def create_bucket(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        bucket = original_bucket(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
        properties = cloudformation_json.get("Properties", {})
        backend = s3_backends[account_id]["aws"]
        if "PublicAccessBlockConfiguration" in properties:
            backend.put_public_access_block(bucket.name, properties["PublicAccessBlockConfiguration"])
        rules = properties.get("LifecycleConfiguration", {}).get("Rules", [])
        if rules:
            api_rules = [{**{k: v for k, v in rule.items() if k != "Id"}, "ID": rule.get("Id"), "Filter": {"Prefix": ""}}
                         for rule in rules]
            backend.put_bucket_lifecycle_configuration(bucket.name, api_rules)
        return bucket

    s3.FakeBucket.create_from_cloudformation_json = classmethod(create_bucket)

    def create_key(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        properties = cloudformation_json["Properties"]
        key = kms_backends[account_id][region_name].create_key(
            policy=json.dumps(properties["KeyPolicy"]),
            key_usage=properties.get("KeyUsage", "ENCRYPT_DECRYPT"),
            key_spec=properties.get("KeySpec", "SYMMETRIC_DEFAULT"),
            description=properties.get("Description"),
            tags=properties.get("Tags", []),
        )
        key.enabled = properties.get("Enabled", True)
        return key

    kms.Key.create_from_cloudformation_json = classmethod(create_key)

    original_origin = cloudfront.Origin.__init__

    def origin_init(self, origin):
        original_origin(self, origin)
        self.origin_access_control_id = origin.get("OriginAccessControlId", "")

    cloudfront.Origin.__init__ = origin_init

    class Made:
        """A resource made by a call to its service; `Ref` gives `physical_id`. Each
        type below also derives from CloudFormationModel directly: moto looks for its
        types among that class's direct subclasses, filed under the service named by the
        second part of their module's name."""

        def __init__(self, physical_id, attributes=None):
            self.physical_id = physical_id
            self.attributes = attributes or {}

        @property
        def physical_resource_id(self):
            return self.physical_id

        @classmethod
        def has_cfn_attr(cls, attr):
            return True

        def get_cfn_attribute(self, attribute_name):
            return self.attributes[attribute_name]

        @staticmethod
        def cloudformation_name_type():
            return ""

    class BucketPolicy(Made, CloudFormationModel):
        __module__ = "moto.cloudformation.launcher"

        @staticmethod
        def cloudformation_type():
            return "AWS::S3::BucketPolicy"

        @classmethod
        def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
            properties = cloudformation_json["Properties"]
            policy = json.dumps(properties["PolicyDocument"]).encode()
            s3_backends[account_id]["aws"].put_bucket_policy(properties["Bucket"], policy)
            return cls(properties["Bucket"])

    class Secret(Made, CloudFormationModel):
        __module__ = "moto.cloudformation.launcher"

        @staticmethod
        def cloudformation_type():
            return "AWS::SecretsManager::Secret"

        @classmethod
        def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
            properties = cloudformation_json["Properties"]
            made = secretsmanager_backends[account_id][region_name].create_secret(
                name=properties["Name"], secret_string=properties.get("SecretString"), secret_binary=None,
                description=properties.get("Description"), tags=[], kms_key_id=properties.get("KmsKeyId"),
                client_request_token=None, replica_regions=[], force_overwrite=False,
            )
            return cls(json.loads(made)["ARN"])

    class KeyPair(Made, CloudFormationModel):
        __module__ = "moto.cloudformation.launcher"

        @staticmethod
        def cloudformation_type():
            return "AWS::EC2::KeyPair"

        @classmethod
        def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
            properties = cloudformation_json["Properties"]
            pair = ec2_backends[account_id][region_name].create_key_pair(
                properties["KeyName"], properties.get("KeyType", "rsa"), {}
            )
            return cls(properties["KeyName"], {"KeyPairId": pair.id})

    class OriginAccessControl(Made, CloudFormationModel):
        __module__ = "moto.cloudformation.launcher"

        @staticmethod
        def cloudformation_type():
            return "AWS::CloudFront::OriginAccessControl"

        @classmethod
        def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
            config = cloudformation_json["Properties"]["OriginAccessControlConfig"]
            control = cloudfront_backends[account_id]["aws"].create_origin_access_control(config)
            return cls(control.id, {"Id": control.id})

    class Distribution(Made, CloudFormationModel):
        __module__ = "moto.cloudformation.launcher"

        @staticmethod
        def cloudformation_type():
            return "AWS::CloudFront::Distribution"

        @classmethod
        def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
            config = distribution_api_config(cloudformation_json["Properties"]["DistributionConfig"], resource_name)
            made, _, _ = cloudfront_backends[account_id]["aws"].create_distribution(config, [])
            return cls(made.distribution_id, {"DomainName": made.domain_name, "Id": made.distribution_id})

    # Keep the classes alive: moto finds CloudFormation types among the subclasses.
    RESOURCE_MODELS.extend([BucketPolicy, Secret, KeyPair, OriginAccessControl, Distribution])


def distribution_api_config(config, caller_reference):
    """CloudFormation's DistributionConfig (lists) in the CloudFront API's shape
    (`Quantity`/`Items`), which moto's model reads."""
    items = lambda values: {"Quantity": len(values), "Items": values}  # noqa: E731
    behavior = dict(config["DefaultCacheBehavior"])
    methods = behavior.pop("AllowedMethods", ["GET", "HEAD"])
    behavior["AllowedMethods"] = {**items(methods), "CachedMethods": items(behavior.pop("CachedMethods", methods))}
    certificate = {k[0].upper() + k[1:]: v for k, v in config.get("ViewerCertificate", {}).items()}
    if "AcmCertificateArn" in certificate:
        certificate["ACMCertificateArn"] = certificate.pop("AcmCertificateArn")
        certificate["SSLSupportMethod"] = certificate.pop("SslSupportMethod", "sni-only")
        certificate["CloudFrontDefaultCertificate"] = False
    return {
        **{k: v for k, v in config.items() if k not in ("Aliases", "Origins", "DefaultCacheBehavior", "ViewerCertificate")},
        "CallerReference": caller_reference,
        "Aliases": items(config.get("Aliases", [])),
        "Origins": items([dict(origin) for origin in config["Origins"]]),
        "DefaultCacheBehavior": behavior,
        "ViewerCertificate": certificate,
    }


RESOURCE_MODELS = []


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
    RESETS.append(lambda: setattr(models.Distribution, "_wanted_id_used", False))


def patch_atomic_conditional_writes() -> None:
    from moto.s3 import responses
    from moto.s3.exceptions import PreconditionFailed

    lock = threading.RLock()
    original_put = responses.S3Response._key_response_put
    original_post = responses.S3Response._key_response_post
    original_copy = responses.S3Response.copy_object

    def put(self, *args, **kwargs):
        with lock:
            return original_put(self, *args, **kwargs)

    def post(self, *args, **kwargs):
        with lock:
            return original_post(self, *args, **kwargs)

    def copy(self):
        existing = self.backend.get_object(self.bucket_name, self.parse_key_name())
        if_match = self.headers.get("If-Match")
        if if_match and (existing is None or if_match.replace('"', "") != existing.etag.replace('"', "")):
            raise PreconditionFailed("If-Match")
        if self.headers.get("If-None-Match") == "*" and existing is not None:
            raise PreconditionFailed("If-None-Match")
        return original_copy(self)

    responses.S3Response._key_response_put = put
    responses.S3Response._key_response_post = post
    responses.S3Response.copy_object = copy


class Faults:
    """WSGI middleware that makes a share of the signed calls fail, as a flaky network
    and an overloaded service do."""

    def __init__(self, app):
        self.app = app
        self.rules = []
        self.random = Faults.seeded()
        self.lock = threading.Lock()
        # New images, and how many more calls they stay unknown to (`not_found_first`).
        self.unknown_for = {}

    @staticmethod
    def seeded():
        return random.Random(int(os.environ.get("XTASK_EMULATOR_FAULT_SEED", "7")))

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO") == "/xtask/faults" and environ.get("REQUEST_METHOD") == "POST":
            length = int(environ.get("CONTENT_LENGTH") or 0)
            self.rules = json.loads(environ["wsgi.input"].read(length) or b"[]")
            FORCED_PAGE_SIZE["items"] = next((r["page_size"] for r in self.rules if "page_size" in r), None)
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"ok"]
        if environ.get("PATH_INFO") == "/xtask/reset" and environ.get("REQUEST_METHOD") == "POST":
            return self.reset(start_response)
        rule = self.matching(environ)
        if rule is None:
            return self.app(environ, start_response)
        if "not_found_first" in rule:
            return self.eventually_consistent(rule["not_found_first"], environ, start_response)
        time.sleep(rule.get("delay", 0))
        with self.lock:
            kinds = rule.get("kinds", [])
            fault = self.random.choice(kinds) if kinds and self.random.random() < rule.get("share", 0) else None
        return self.fail(fault, environ, start_response)

    def reset(self, start_response):
        if os.environ.get("XTASK_EMULATOR_IAM") == "1":
            return error(start_response, "409 Conflict", "IamEnforced", "An emulator that enforces IAM is not reset.")
        from moto.moto_api._internal.models import moto_api_backend

        self.rules = []
        self.random = Faults.seeded()
        self.unknown_for = {}
        FORCED_PAGE_SIZE["items"] = None
        moto_api_backend.reset()
        for forget in RESETS:
            forget()
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    def eventually_consistent(self, count, environ, start_response):
        """EC2 answers for a while as if a new image did not exist."""
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length)
        environ["wsgi.input"] = io.BytesIO(body)
        form = urllib.parse.parse_qs(body.decode())
        named = [form[name][0] for name in ("ImageId", "ImageId.1", "ResourceId.1") if name in form]
        with self.lock:
            unknown = next((image for image in named if self.unknown_for.get(image, 0) > 0), None)
            if unknown is not None:
                self.unknown_for[unknown] -= 1
        if unknown is not None:
            body = (
                "<Response><Errors><Error><Code>InvalidAMIID.NotFound</Code>"
                f"<Message>The image id '[{unknown}]' does not exist</Message></Error></Errors></Response>"
            )
            start_response("400 Bad Request", [("Content-Type", "text/xml"), ("Content-Length", str(len(body)))])
            return [body.encode()]
        answer = b"".join(self.app(environ, start_response))
        if form.get("Action") == ["CopyImage"]:
            made = answer.decode(errors="replace").split("<imageId>")[-1].split("</imageId>")[0]
            with self.lock:
                self.unknown_for.setdefault(made, count)
        return [answer]

    def matching(self, environ):
        scope = environ.get("HTTP_AUTHORIZATION", "").split("Credential=")[-1].split(",")[0].split("/")
        service = scope[3] if len(scope) > 3 else None
        if service is None:
            return None
        return next((r for r in self.rules if r.get("service") in (service, "*")), None)

    def fail(self, fault, environ, start_response):
        if fault == "500":
            return error(start_response, "500 Internal Server Error", "InternalError", "We encountered an internal error.")
        if fault == "503":
            return error(start_response, "503 Slow Down", "SlowDown", "Please reduce your request rate.")
        if fault == "reset":
            drop(environ)
            return []
        if fault == "cut":
            return self.cut(environ, start_response)
        return self.app(environ, start_response)

    def cut(self, environ, start_response):
        """The real answer's headers and half its body, then the connection drops."""
        body = b"".join(self.app(environ, start_response))

        def half():
            yield body[: len(body) // 2]
            drop(environ)

        return half()


def error(start_response, status, code, message):
    body = f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code><Message>{message}</Message></Error>'
    start_response(status, [("Content-Type", "application/xml"), ("Content-Length", str(len(body)))])
    return [body.encode()]


def drop(environ):
    """Drops the connection as a broken network does. `shutdown` ends it whatever else
    still holds the socket (closing it alone would not, while the server's file objects
    keep it open)."""
    connection = environ.get("werkzeug.socket")
    if connection is not None:
        try:
            connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def serve(tls_dir):
    """moto's threaded server, with the fault middleware in front of its application;
    and the same application over TLS when a directory for the certificate is given."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import make_server

    app = Faults(DomainDispatcherApplication(create_backend_app))
    ports = []
    for context in [None] + ([tls_context(tls_dir)] if tls_dir else []):
        server = make_server("127.0.0.1", 0, app, True, request_handler=MotoRequestHandler, ssl_context=context)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        ports.append(server.server_address[1])
    return ports


def tls_context(directory):
    """A TLS 1.2+ context with a new self-signed P-256 certificate for 127.0.0.1, whose
    PEM files are written to the directory (cryptography is one of moto's own needs)."""
    import datetime
    import ipaddress
    import ssl

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = os.path.join(directory, "cert.pem"), os.path.join(directory, "key.pem")
    with open(cert_path, "wb") as out:
        out.write(certificate.public_bytes(serialization.Encoding.PEM))
    with open(key_path, "wb") as out:
        out.write(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert_path, key_path)
    return context


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


def patch_resources_moto_does_not_know() -> None:
    """For services other than S3, moto checks a call against the resource `*`: it does
    not know which image, key or distribution a call touches, and a statement naming one
    (`arn:aws:cloudfront::*:distribution/E...`) would never match. Such a call is checked
    by its action alone; S3 calls keep their bucket and key ARNs, so the tests prove the
    S3 resources of a policy and the actions of every statement."""
    from moto.iam.access_control import IAMPolicyStatement

    original = IAMPolicyStatement._check_element_matches

    def check_element_matches(self, element, value):
        if element == "Resource" and value == "*":
            return True
        return original(self, element, value)

    IAMPolicyStatement._check_element_matches = check_element_matches


def patch_anonymous_reads() -> None:
    """With IAM enforced, moto refuses every unsigned request (it fails looking for the
    signature). S3 lets anyone read what a bucket policy grants to `"Principal": "*"`,
    and customers read the public buckets that way: an unsigned GET or HEAD is allowed
    when the bucket's policy grants s3:GetObject to everyone on that key, and answered
    403 otherwise."""
    import fnmatch

    from moto.core.authorization import ActionAuthenticatorMixin
    from moto.s3.exceptions import S3AccessDeniedError
    from moto.s3.models import s3_backends

    original = ActionAuthenticatorMixin._authenticate_and_authorize_s3_action

    def public_read(account_id, bucket_name, key_name) -> bool:
        try:
            bucket = s3_backends[account_id]["aws"].get_bucket(bucket_name)
        except Exception:
            return False
        policy = json.loads(bucket.policy or b"{}")
        arn = f"arn:aws:s3:::{bucket_name}/{key_name}"
        for statement in policy.get("Statement", []):
            actions = statement.get("Action", [])
            actions = [actions] if isinstance(actions, str) else actions
            resources = statement.get("Resource", [])
            resources = [resources] if isinstance(resources, str) else resources
            principal = statement.get("Principal")
            if (
                statement.get("Effect") == "Allow"
                and principal in ("*", {"AWS": "*"})
                and any(a in ("s3:GetObject", "s3:*", "*") for a in actions)
                and any(fnmatch.fnmatchcase(arn, r) for r in resources)
            ):
                return True
        return False

    def authorize(self, bucket_name=None, key_name=None):
        signed = "Authorization" in self.headers or "X-Amz-Credential" in (self.querystring or {})
        if signed:
            return original(self, bucket_name, key_name)
        if self.method in ("GET", "HEAD") and key_name and public_read(self.current_account, bucket_name, key_name):
            return None
        raise S3AccessDeniedError()

    ActionAuthenticatorMixin._authenticate_and_authorize_s3_action = authorize


def patch_missing_keys_without_list_bucket() -> None:
    from moto.iam.access_control import S3IAMRequest
    from moto.s3 import responses

    original = responses.S3Response.head_object

    def head_object(self, bucket_name, query, key_name, headers):
        status, response_headers, body = original(self, bucket_name, query, key_name, headers)
        if status != 404:
            return status, response_headers, body
        request = S3IAMRequest(
            account_id=self.current_account,
            method=self.method,
            path=self.raw_path,
            data=self.data,
            body=self.raw_body,
            headers=self.headers,
            action="ListBucket",  # prefixed with the service from the signature
        )
        try:
            request.check_action_permitted(f"arn:aws:s3:::{bucket_name}")
        except Exception:
            return 403, {}, ""
        return status, response_headers, body

    responses.S3Response.head_object = head_object


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
        import moto.server  # noqa: F401
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
    patch_atomic_conditional_writes()
    patch_copy_image_client_token()
    patch_image_deprecation()
    patch_checksum_types()
    patch_mapping_without_size()
    patch_resources_not_made()
    patch_release_infra_resources()
    patch_pagination()
    patch_sign_digest()
    if os.environ.get("XTASK_EMULATOR_DISTRIBUTION_ID"):
        patch_distribution_id(os.environ["XTASK_EMULATOR_DISTRIBUTION_ID"])
    ports = serve(os.environ.get("XTASK_EMULATOR_TLS_DIR"))
    if iam:
        patch_cloudfront_signatures()
        patch_resources_moto_does_not_know()
        patch_anonymous_reads()
        patch_missing_keys_without_list_bucket()
    admin = f" admin={create_administrator()}" if iam else ""
    tls = f" tls_port={ports[1]}" if len(ports) > 1 else ""
    print(f"port={ports[0]}{tls}{admin}", flush=True)
    exit_when_parent_goes_away()


if __name__ == "__main__":
    main()
