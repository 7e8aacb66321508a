"""Packages found from the code that is shipped (issue 28): what the code objects of a
function, its nested functions, lambdas and classes, its referenced objects and its
arguments import, mapped to installed distributions. Pure logic, no cluster."""

from __future__ import annotations

import sys
import textwrap
import types
import warnings
from pathlib import Path

import pytest
import six  # a referenced module: needed through a global name
import traitlets  # the kernel's own machinery, used by a function below

from clusterlab.core.environment import codescan, lock, packages


def needs_of(*objs: object) -> codescan.Needs:
    """As a submission reads them: this test module is the user's own code (by value)."""
    return codescan.needs_of(*objs, by_value=lambda top: top == "tests")


def imports_in_body() -> str:
    import toolz

    return str(toolz.__version__)


def nested() -> object:
    def inner() -> object:
        import yaml

        return yaml

    square = lambda x: __import__("math").sqrt(x)  # noqa: E731  (a call, not an import)

    class Local:
        def method(self) -> object:
            from markupsafe import escape

            return escape

    return inner, square, Local


def optional_import() -> bool:
    try:
        import no_such_module_anywhere  # noqa: F401
    except ImportError:
        return False
    return True


def refers_to_globals() -> object:
    return six.moves, traitlets.HasTraits


class Shipped:
    """A notebook class: its methods travel by value and are read too."""

    def run(self) -> object:
        import attr

        return attr


def test_an_import_inside_the_body_is_needed() -> None:
    assert needs_of(imports_in_body).required == {"toolz"}


def test_nested_functions_lambdas_and_classes_are_read() -> None:
    needs = needs_of(nested)
    assert {"yaml", "markupsafe"} <= needs.required
    assert "math" not in needs.required  # the stdlib is never a package


def test_referenced_modules_and_objects_are_needed() -> None:
    assert {"six", "traitlets"} <= needs_of(refers_to_globals).required


def test_an_import_under_an_import_error_guard_is_optional() -> None:
    needs = needs_of(optional_import)
    assert needs.optional == {"no_such_module_anywhere"} and needs.required == set()


def test_a_module_imported_both_guarded_and_not_is_required() -> None:
    source = "try:\n    import aa\nexcept ImportError:\n    pass\nimport aa\nimport bb\n"
    every, optional = codescan._imported([codescan.ast.parse(source)])
    assert every == {"aa", "bb"} and optional == set()


def test_contextlib_suppress_import_error_is_optional() -> None:
    source = "with contextlib.suppress(ImportError):\n    import cc\n"
    assert codescan._imported([codescan.ast.parse(source)])[1] == {"cc"}


def test_an_instance_argument_brings_its_class_and_the_class_methods_imports() -> None:
    needs = needs_of(len, [Shipped()])
    assert "attr" in needs.required


def test_a_module_that_travels_by_value_is_read_for_its_imports(tmp_path: Path) -> None:
    (tmp_path / "mylocal_helpers.py").write_text(
        textwrap.dedent(
            """
            import toolz
            import markupsafe  # imported by the module, used by no function: not needed

            def helper():
                import yaml
                return yaml, toolz.identity, maybe()

            def maybe():
                try:
                    import no_such_optional
                except ImportError:
                    return None
            """
        )
    )
    sys.path.insert(0, str(tmp_path))
    try:
        import mylocal_helpers  # type: ignore[import-not-found]

        def uses_helper() -> object:
            return mylocal_helpers.helper()

        needs = codescan.needs_of(
            uses_helper, by_value=lambda top: top in ("tests", "mylocal_helpers")
        )
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("mylocal_helpers", None)
    assert needs.required == {"toolz", "yaml"}  # not the local module itself
    assert needs.optional == {"no_such_optional"}


def test_a_cells_text_is_read_for_its_imports() -> None:
    needs = codescan.source_needs(
        "import toolz\ntry:\n    import zz\nexcept Exception:\n    pass\n"
    )
    assert needs.required == {"toolz"} and needs.optional == {"zz"}
    assert codescan.source_needs("def broken(:\n").all() == set()


def test_code_without_source_counts_every_import_as_required() -> None:
    code = compile("try:\n    import dd\nexcept ImportError:\n    pass\n", "<gone>", "exec")
    fn = types.FunctionType(code, {"__name__": "__main__"})  # a notebook cell
    needs = codescan.needs_of(fn)
    assert needs.required == {"dd"}


def test_shipped_distributions_keep_the_kernels_own_machinery() -> None:
    """The defect: traitlets was left out of the lock as 'kernel-only' even when a
    function imported it."""
    packages.note_shipped(needs_of(refers_to_globals), "the function 'f'")
    shipped = packages.shipped_distributions()
    assert "traitlets" in shipped and "six" in shipped
    assert "traitlets" not in packages.imported_distributions()  # the kernel's alone: out
    assert "traitlets" in lock.make_lock().pins


def test_a_package_the_kernel_never_imported_joins_the_lock(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delitem(sys.modules, "toolz", raising=False)  # the kernel never imported it
    assert "toolz" not in lock.make_lock().pins
    packages.note_shipped(needs_of(imports_in_body), "the function 'f'")
    assert lock.make_lock().pins["toolz"][1] == __import__("importlib").metadata.version("toolz")


def test_a_module_with_no_distribution_is_named_in_one_warning() -> None:
    needs = codescan.Needs()
    needs.add(["nowhere_pkg", "maybe_pkg"], optional=["maybe_pkg"])
    with pytest.warns(UserWarning, match=r"'nowhere_pkg', which no distribution"):
        packages.note_shipped(needs, "the function 'f'")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # once per kernel; an optional one never warns
        packages.note_shipped(needs, "the function 'g'")


def test_the_table_separates_what_the_functions_need_from_what_the_kernel_imported() -> None:
    packages.note_shipped(needs_of(imports_in_body), "the function 'f'")
    rows = packages.diff({})  # a cluster with nothing installed
    assert rows[0][0] == "toolz" and rows[0][3] == "sent"
    assert all(row[3] == "imported" for row in rows[1:])
    text = packages.table(rows)
    assert text.splitlines()[0] == "needed by the functions this kernel sent:"
    assert "imported by the kernel:" in text
    assert text.index("toolz") < text.index("imported by the kernel:")


def test_an_unreadable_object_never_stops_a_submission(monkeypatch: pytest.MonkeyPatch) -> None:
    """Reading code is a help: when it fails, the submission goes on with a warning."""
    from clusterlab.core.submission import submit

    def broken(*objs: object, by_value: object) -> codescan.Needs:
        raise RuntimeError("a strange object")

    monkeypatch.setattr(codescan, "needs_of", broken)
    with pytest.warns(UserWarning, match=r"could not read what 'imports_in_body' imports"):
        submit.note_needs(imports_in_body)


def test_a_type_without_a_module_name_needs_nothing() -> None:
    odd = type("Odd", (), {})
    odd.__module__ = None  # type: ignore[assignment]  (as some extension types have)
    assert needs_of(len, [odd()]).all() == set()
