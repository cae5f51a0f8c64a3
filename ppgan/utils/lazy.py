"""Package attributes imported on first use, so that importing a package stays cheap."""
import importlib


def lazy_exports(package, modules):
    """(``__getattr__``, ``__dir__``, ``__all__``) for ``package`` whose names live in its submodules.

    ``modules``: {submodule: names it defines}; a name's submodule is imported when the name is
    first read (``from package import name`` included).
    """
    module_of = {name: module for module, names in modules.items() for name in names}

    def __getattr__(name):
        if name not in module_of:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{package}.{module_of[name]}"), name)

    def __dir__():
        return sorted(module_of)

    return __getattr__, __dir__, sorted(module_of)
