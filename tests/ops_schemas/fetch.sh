#!/usr/bin/env bash
# Fetch the schemas again from the npm registry (see README.md); review the diff before committing.
set -euo pipefail
cd "$(dirname "$0")"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent dclint@3.1.0 @asyncapi/specs@6.11.1 >/dev/null)
tar -xzf "$work"/dclint-3.1.0.tgz -C "$work" package/schemas/compose.schema.json
gzip -9nc "$work"/package/schemas/compose.schema.json > compose-spec.json.gz
tar -xzf "$work"/asyncapi-specs-6.11.1.tgz -C "$work" 'package/schemas/3.0.0-without-$id.json'
gzip -9nc "$work/package/schemas/3.0.0-without-\$id.json" > asyncapi-3.0.0.json.gz
sha256sum <(gunzip -c compose-spec.json.gz) <(gunzip -c asyncapi-3.0.0.json.gz)
