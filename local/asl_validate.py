"""``python -m local.asl_validate``: the state machine definition checked by an independent validator, beside
cfn-lint (``make validate``).

The definition file is JSON only once the template's ``DefinitionSubstitutions`` are applied (``MaxConcurrency`` is
an unquoted number), so it is substituted as CloudFormation would (``local/runner_template.py``; each function ARN
a well-formed Lambda ARN, each parameter its default), in every partition, and each result is given to the npm
package ``asl-validator`` (installed by the Makefile into ``node_modules/``), which checks it against the Amazon
States Language schema, its paths and its ARNs. The exit status is the validator's.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Final

from local.runner_template import ROOT, load_template

VALIDATOR: Final = ROOT / "node_modules" / ".bin" / "asl-validator"
PARTITIONS: Final = ("aws", "aws-cn", "aws-us-gov")


def main() -> int:
    if not VALIDATOR.exists():
        print(f"{VALIDATOR} is missing: run `make validate` (it installs asl-validator with npm)", file=sys.stderr)
        return 2
    spec = load_template(stack_name="asl-validate").state_machine
    status = 0
    with tempfile.TemporaryDirectory() as directory:
        for partition in PARTITIONS:
            arns = {
                logical_id: f"arn:{partition}:lambda:us-east-1:123456789012:function:asl-validate-{logical_id}"
                for logical_id in spec.function_substitutions.values()
            }
            path = Path(directory) / f"export-{partition}.asl.json"
            path.write_text(spec.definition(arns, {"AWS::Partition": partition}))
            result = subprocess.run([str(VALIDATOR), "--json-path", str(path)], check=False)  # noqa: S603 - our file
            print(f"asl-validator ({partition}): {'ok' if result.returncode == 0 else 'FAILED'}")
            status = status or result.returncode
    return status


if __name__ == "__main__":
    sys.exit(main())
