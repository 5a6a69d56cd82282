"""What EC2 says about images, read for the tests with boto3 (AWS's own SDK, which moto
brings), so the checks do not trust the xtask's EC2 code. One process answers for many
images: an AWS CLI process per call cost about a second each.

Usage: python ec2_facts.py '<request as JSON>'; the endpoint, keys and region come from
the environment (AWS_ENDPOINT_URL, ...). Requests:
  {"owned": ["us-east-1", ...]}                  -> {"images": [ami, ...]}
  {"images": [{"region": r, "ami": a}, ...]}     -> {"images": [{name, deprecation, tags, snapshots, snapshot_tags,
      launch: [account], launch_groups: [group], volumes: [[account]], volume_groups}]}
"""

import json
import sys

import boto3

clients = {}


def ec2(region):
    if region not in clients:
        clients[region] = boto3.client("ec2", region_name=region)
    return clients[region]


def owned(regions):
    found = []
    for region in regions:
        for page in ec2(region).get_paginator("describe_images").paginate(Owners=["self"]):
            found.extend(image["ImageId"] for image in page["Images"])
    return {"images": sorted(found)}


def permissions(entries):
    users = sorted(e["UserId"] for e in entries if "UserId" in e)
    groups = sorted(e["Group"] for e in entries if "Group" in e)
    return users, groups


def image(region, ami):
    client = ec2(region)
    found = client.describe_images(ImageIds=[ami])["Images"][0]
    snapshots = [m["Ebs"]["SnapshotId"] for m in found.get("BlockDeviceMappings", []) if "SnapshotId" in m.get("Ebs", {})]
    launch = client.describe_image_attribute(ImageId=ami, Attribute="launchPermission")["LaunchPermissions"]
    launch_users, launch_groups = permissions(launch)
    volumes, volume_groups = [], []
    for snapshot in snapshots:
        answer = client.describe_snapshot_attribute(SnapshotId=snapshot, Attribute="createVolumePermission")
        users, groups = permissions(answer["CreateVolumePermissions"])
        volumes.append(users)
        volume_groups.extend(groups)
    described = client.describe_snapshots(SnapshotIds=snapshots)["Snapshots"] if snapshots else []
    return {
        "name": found["Name"],
        "deprecation": found.get("DeprecationTime"),
        "tags": {tag["Key"]: tag["Value"] for tag in found.get("Tags", [])},
        "snapshots": snapshots,
        "snapshot_tags": [{tag["Key"]: tag["Value"] for tag in s.get("Tags", [])} for s in described],
        "launch": launch_users,
        "launch_groups": launch_groups,
        "volumes": volumes,
        "volume_groups": sorted(set(volume_groups)),
    }


def main():
    request = json.loads(sys.argv[1])
    if "owned" in request:
        answer = owned(request["owned"])
    else:
        answer = {"images": [image(item["region"], item["ami"]) for item in request["images"]]}
    json.dump(answer, sys.stdout)


main()
