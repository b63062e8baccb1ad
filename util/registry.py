"""Discovery by file name, shared by models and dataset modes: ``foo`` -> ``{package}/foo_{kind}.py`` -> ``FooKind``."""
from __future__ import annotations

import importlib
from pathlib import Path
from typing import List, Type, TypeVar

from util.errors import UserError

T = TypeVar("T")


def available(package_dir: Path, kind: str) -> List[str]:
    """Names ``foo`` of the ``foo_{kind}.py`` files in ``package_dir`` (the ``base_{kind}.py`` file excluded)."""
    suffix = f"_{kind}.py"
    return sorted(p.name[: -len(suffix)] for p in package_dir.glob(f"*{suffix}") if p.name != f"base{suffix}")


def find_class(package: str, package_dir: Path, kind: str, name: str, base: Type[T], flag: str,
               what: str) -> Type[T]:
    """Import ``{package}.{name}_{kind}`` and return its ``base`` subclass named ``{name}{kind}`` (no underscores,
    any case); an unknown name is a UserError naming ``flag``, ``what`` it is, and the choices."""
    names = available(package_dir, kind)
    if name not in names:
        raise UserError(f"argument {flag}: unknown {what} {name!r}; choose from {', '.join(names)}")
    module = importlib.import_module(f"{package}.{name}_{kind}")
    target = name.replace("_", "").lower() + kind
    for attr, cls in vars(module).items():
        if attr.lower() == target and isinstance(cls, type) and issubclass(cls, base):
            return cls
    raise UserError(f"argument {flag}: {package}/{name}_{kind}.py has no {base.__name__} subclass named like "
                    f"{target} (case-insensitive)")
