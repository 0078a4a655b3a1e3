"""CloudFormation intrinsic functions, resolved only where the answer is certain.

A template says ``!Sub 'arn:aws:iam::${AWS::AccountId}:root'`` or ``{"Ref": "KeyAdmin"}`` where the
policy will hold a value. ``Resolver.value`` replaces ``Ref`` (a parameter given, a pseudo parameter
known from the stack, or a resource whose physical ID the stack lists), ``Fn::Sub`` (both forms),
``Fn::Join``, ``Fn::Select`` and ``Fn::GetAtt`` of an ``Arn`` kmsdiag can build (a KMS key, an IAM role,
user or managed policy of the stack). Anything else, or any reference it cannot resolve, raises
``Unresolved``: the policy that holds it is not replayed (it is reported), never guessed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from diag import arn as arns

_SUB_VAR = re.compile(r"\$\{([^}!][^}]*)\}")
_PARTITION_SUFFIX = {"aws": "amazonaws.com", "aws-cn": "amazonaws.com.cn", "aws-us-gov": "amazonaws.com"}
# How to build each type's ARN from its physical ID (Ref) and the stack's partition, region and account.
_ARNS: dict[str, Callable[[str, str, str, str], str]] = {
    "AWS::KMS::Key": lambda p, r, a, pid: arns.key_arn(pid, r, a, p),
    "AWS::KMS::ReplicaKey": lambda p, r, a, pid: arns.key_arn(pid, r, a, p),
    "AWS::IAM::Role": lambda p, r, a, pid: arns.iam_arn(a, f"role/{pid}", p),
    "AWS::IAM::User": lambda p, r, a, pid: arns.iam_arn(a, f"user/{pid}", p),
    "AWS::IAM::Group": lambda p, r, a, pid: arns.iam_arn(a, f"group/{pid}", p),
}


class Unresolved(ValueError):
    """A value the template leaves to deployment time (or to a function kmsdiag does not evaluate)."""


class Resolver:
    """Resolves intrinsic functions with the stack's parameters, pseudo parameters and physical IDs.

    ``physical``: logical ID → physical ID (``Ref`` of the resource); ``types``: logical ID → type;
    ``arns``: logical ID → an ARN known otherwise (e.g. a role's ARN with its path, from the collected
    IAM); ``pseudo``: ``AWS::AccountId``, ``AWS::Region``, ``AWS::Partition``, ``AWS::StackName``…
    """

    def __init__(
        self,
        *,
        parameters: Mapping[str, str],
        pseudo: Mapping[str, str],
        physical: Mapping[str, str],
        types: Mapping[str, str],
        arns: Mapping[str, str] | None = None,
    ) -> None:
        self.parameters = dict(parameters)
        self.pseudo = dict(pseudo)
        part = self.pseudo.get("AWS::Partition")
        if part in _PARTITION_SUFFIX and "AWS::URLSuffix" not in self.pseudo:
            self.pseudo["AWS::URLSuffix"] = _PARTITION_SUFFIX[part]
        self.physical = dict(physical)
        self.types = dict(types)
        self.arns = dict(arns or {})

    def ref(self, name: str) -> str:
        if name in self.parameters:
            return self.parameters[name]
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.physical:
            return self.physical[name]
        if name.startswith("AWS::"):
            raise Unresolved(f"the pseudo parameter {name} is not known (pass the stack description)")
        if name in self.types:
            raise Unresolved(f"{name} is created by this stack: its physical ID is known only after deployment")
        raise Unresolved(f"Ref {name}: no such parameter value (pass --cfn-parameter {name}=VALUE)")

    def get_att(self, logical: str, attr: str) -> str:
        if attr != "Arn":
            raise Unresolved(f"Fn::GetAtt {logical}.{attr} is known only after deployment")
        if logical in self.arns:
            return self.arns[logical]
        kind = self.types.get(logical)
        if kind == "AWS::IAM::ManagedPolicy":
            return self.ref(logical)  # Ref of a managed policy is its ARN
        build = _ARNS.get(kind or "")
        if build is None:
            raise Unresolved(
                f"Fn::GetAtt {logical}.Arn: kmsdiag does not build the ARN of {kind or 'an unknown resource'}"
            )
        need = ("AWS::Partition", "AWS::Region", "AWS::AccountId")
        missing = [n for n in need if n not in self.pseudo]
        if missing:
            raise Unresolved(f"Fn::GetAtt {logical}.Arn needs {', '.join(missing)} (pass the stack description)")
        return build(
            self.pseudo["AWS::Partition"], self.pseudo["AWS::Region"], self.pseudo["AWS::AccountId"], self.ref(logical)
        )

    def sub(self, text: str, local: Mapping[str, Any]) -> str:
        def one(m: re.Match[str]) -> str:
            name = m.group(1).strip()
            if name in local:
                return self.text(local[name])
            if "." in name and not name.startswith("AWS::"):
                logical, attr = name.split(".", 1)
                return self.get_att(logical, attr)
            return self.ref(name)

        return _SUB_VAR.sub(one, text).replace("${!", "${")

    def text(self, node: Any) -> str:
        value = self.value(node)
        if not isinstance(value, str):
            raise Unresolved(f"expected a string, got {type(value).__name__}")
        return value

    def value(self, node: Any) -> Any:
        """``node`` with every intrinsic function replaced by its value; ``Unresolved`` when one cannot be."""
        if isinstance(node, list):
            return [self.value(v) for v in node]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((fn, arg),) = node.items()
            if fn == "Ref":
                return self.ref(str(arg))
            if fn == "Fn::Sub":
                if isinstance(arg, list) and len(arg) == 2 and isinstance(arg[1], dict):
                    return self.sub(str(arg[0]), arg[1])
                return self.sub(str(arg), {})
            if fn == "Fn::Join" and isinstance(arg, list) and len(arg) == 2:
                parts = self.value(arg[1])
                if not isinstance(parts, list):
                    raise Unresolved("Fn::Join: the list is not known")
                return str(arg[0]).join(self.text(p) for p in parts)
            if fn == "Fn::Select" and isinstance(arg, list) and len(arg) == 2:
                items = self.value(arg[1])
                index = int(self.text(arg[0]) if not isinstance(arg[0], int) else arg[0])
                if not isinstance(items, list) or not 0 <= index < len(items):
                    raise Unresolved("Fn::Select: index out of range")
                return items[index]
            if fn == "Fn::GetAtt":
                logical, attr = arg.split(".", 1) if isinstance(arg, str) else [*list(arg), ""][:2]
                return self.get_att(str(logical), str(attr))
            if fn == "Fn::ImportValue":  # another stack's export: its value is not in this template or stack
                raise Unresolved(f"Fn::ImportValue {json.dumps(arg, default=str)} is not evaluated by kmsdiag")
            if fn.startswith("Fn::") or fn == "Condition":
                raise Unresolved(f"{fn} is not evaluated by kmsdiag")
        return {k: self.value(v) for k, v in node.items()}
