"""Checks a Python handler without running it, for `processor validate` and
the processor's start: the source parses, and its top level defines the
handler function. Nothing of the module runs: it is parsed with `ast` only,
so neither its imports nor its side effects happen here (a failing import
is the worker's business, retried with backoff).

    python3 -I -S edgefn_check.py FUNCTION FILENAME 3< SOURCE

(the processor runs it as a module of the runtime's archive, with runpy).

The source is read from descriptor 3 (a file, or a memfd holding
spec.build.functionSourceCode); FILENAME only names it in messages. Exit
status, with one line on stdout:
    0  "defined", or "assumed: WHY" when the module may define FUNCTION in a
       way no reading can tell ("from x import *", globals(), ...)
    1  "syntax: LINE:COLUMN: MESSAGE"
    2  "missing"
    3  "unchecked: WHY" (the source nests too deeply for `ast`, or needs more
       than _MEMORY_LIMIT to parse)
Standard library only; runs on any Python 3 the function may name.
"""
import ast
import os
import resource
import sys

_SOURCE_FD = 3
# The source may be anything a config holds: parsing is bounded in memory
# here as it is in time by the processor. `ast` takes about 2 KB per
# statement: half a million one-line statements (3 MB) took 1.3 GB.
_MEMORY_LIMIT = 128 << 20

# Calls through which a module can bind names no reading can see.
_DYNAMIC_BINDERS = ("globals", "vars", "exec", "setattr", "__import__")


class _TopLevelBindings(ast.NodeVisitor):
    """The names a module binds in its own namespace: what `def`, `class`,
    assignments, imports, `for`, `with`, `except` and `match` bind at the
    top level, in `if` and `try` blocks included, but not inside functions,
    classes, lambdas or comprehensions, which have scopes of their own."""

    def __init__(self):
        self.names = set()
        self.star_imports = []

    def _bind(self, name):
        if name:
            self.names.add(name)

    def visit_FunctionDef(self, node):
        self._bind(node.name)
        for expression in node.decorator_list:
            self.visit(expression)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_ClassDef(self, node):
        self._bind(node.name)
        for expression in node.decorator_list + node.bases:
            self.visit(expression)

    def visit_Lambda(self, node):
        pass

    visit_ListComp = visit_SetComp = visit_DictComp = visit_GeneratorExp = visit_Lambda

    def visit_Name(self, node):
        if isinstance(node.ctx, ast.Store):
            self._bind(node.id)

    def visit_Import(self, node):
        for alias in node.names:
            self._bind(alias.asname or alias.name.split(".")[0])

    def visit_ImportFrom(self, node):
        for alias in node.names:
            if alias.name == "*":
                self.star_imports.append("." * node.level + (node.module or ""))
            else:
                self._bind(alias.asname or alias.name)

    def visit_ExceptHandler(self, node):
        self._bind(node.name)
        self.generic_visit(node)

    # Python 3.10's match statement; absent from older `ast`, harmless there.
    def visit_MatchAs(self, node):
        self._bind(node.name)
        self.generic_visit(node)

    def visit_MatchStar(self, node):
        self._bind(node.name)

    def visit_MatchMapping(self, node):
        self._bind(node.rest)
        self.generic_visit(node)


def _unknowable(tree, function, bindings):
    """Why `function` may exist although no top-level statement binds it."""
    if bindings.star_imports:
        return "the module imports * from %s" % bindings.star_imports[0]
    if "__getattr__" in bindings.names:
        return "the module defines __getattr__"
    for node in ast.walk(tree):
        if isinstance(node, ast.Global) and function in node.names:
            return "a function declares it global"
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _DYNAMIC_BINDERS:
            return "the module calls %s()" % node.func.id
        if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store) and node.attr == function:
            return "the module assigns an attribute named %s" % function
    return None


_TOO_DEEP = "unchecked: the source nests too deeply for Python's ast module"
_TOO_LARGE = "unchecked: parsing the source needs more than %d MiB" % (_MEMORY_LIMIT >> 20)


def _limit_memory():
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = _MEMORY_LIMIT if hard == resource.RLIM_INFINITY else min(_MEMORY_LIMIT, hard)
    if soft == resource.RLIM_INFINITY or soft > limit:
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def check(source, function, filename):
    """(exit status, line) for `source`, as the module docstring says."""
    try:
        tree = ast.parse(source, filename)
    except SyntaxError as e:
        return 1, "syntax: %s:%s: %s" % (e.lineno or 0, e.offset or 0, e.msg)
    except (ValueError, UnicodeDecodeError) as e:  # NUL bytes, an undecodable file
        return 1, "syntax: 0:0: %s" % e
    except RecursionError:
        return 3, _TOO_DEEP
    except MemoryError:
        return 3, _TOO_LARGE
    bindings = _TopLevelBindings()
    try:
        bindings.visit(tree)
    except RecursionError:
        return 3, _TOO_DEEP
    except MemoryError:
        return 3, _TOO_LARGE
    if function in bindings.names:
        return 0, "defined"
    why = _unknowable(tree, function, bindings)
    if why:
        return 0, "assumed: " + why
    return 2, "missing"


def main():
    if len(sys.argv) != 3:
        sys.stdout.write("usage: edgefn_check.py FUNCTION FILENAME 3< SOURCE\n")
        return 64
    _limit_memory()
    # From the start: a memfd's offset is where its writer left it.
    os.lseek(_SOURCE_FD, 0, os.SEEK_SET)
    with open(_SOURCE_FD, "rb") as source:
        status, line = check(source.read(), sys.argv[1], sys.argv[2])
    sys.stdout.buffer.write(line.encode("utf-8", "replace") + b"\n")
    return status


if __name__ == "__main__":
    sys.exit(main())
