"""The permissions AWS's resource schemas give the create, read, update and delete
handlers of every resource type the given templates use.

Usage: handler_permissions.py <cfn-lint wheel> <template>...
Prints {"types": [...], "permissions": [...]} as JSON, both sorted. The schemas are read
from the wheel (providers/us_east_1/<type>.json), which is never installed.
"""

import json
import sys
import zipfile

import yaml


class TemplateLoader(yaml.SafeLoader):
    """Reads CloudFormation's short-form tags (!Ref, !Sub, ...) as plain values."""


TemplateLoader.add_multi_constructor("!", lambda loader, suffix, node: None)


def main() -> None:
    wheel, templates = sys.argv[1], sys.argv[2:]
    types = set()
    for path in templates:
        with open(path, encoding="utf-8") as file:
            template = yaml.load(file, Loader=TemplateLoader)
        types.update(resource["Type"] for resource in template["Resources"].values())
    permissions = set()
    with zipfile.ZipFile(wheel) as archive:
        for type_name in types:
            name = "cfnlint/data/schemas/providers/us_east_1/" + type_name.lower().replace("::", "-") + ".json"
            handlers = json.loads(archive.read(name)).get("handlers", {})
            if not handlers:
                sys.exit(f"the schema of {type_name} in {wheel} lists no handlers")
            for handler in ("create", "read", "update", "delete"):
                permissions.update(handlers.get(handler, {}).get("permissions", []))
    json.dump({"types": sorted(types), "permissions": sorted(permissions)}, sys.stdout)


main()
