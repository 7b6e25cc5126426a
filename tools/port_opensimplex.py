#!/usr/bin/env python3
"""Port the OpenSimplex evaluation kernels of the Python package to Rust.

Pinned reference: opensimplex==0.4.5.1 (PyPI), file `opensimplex/internals.py`.

The package's `_noise2`, `_noise3` and `_noise4` are long, branch-heavy but
completely regular functions (assignments, `if`/`elif`/`else`, arithmetic and
calls to `_extrapolate*`).  Porting ~1,700 lines by hand invites typos that
only show up for rare lattice regions, so this script translates them
statement by statement, keeping the operation order of every expression (so
the f64 results are the same IEEE operations as the reference) and the
package's comments.  Seeding (`_init`) and the gradient lookups are written by
hand in `crates/dtunet-noise/src/opensimplex/mod.rs`.

Usage (regenerates `crates/dtunet-noise/src/opensimplex/kernels.rs`):

    pip install opensimplex==0.4.5.1
    python3 tools/port_opensimplex.py > crates/dtunet-noise/src/opensimplex/kernels.rs
    cargo fmt

Type rules: names assigned from `floor()` (ported as `floor_to_i64`, a libm-free floor) or from integer arithmetic are
`i64` (the package runs under numba, where `floor` returns int64); everything
else is `f64`.  Integer literals in float context become float literals;
integers mixed with floats are converted with `as f64`, exactly where Python
promotes them.
"""

import ast
import inspect
import sys

import opensimplex
from opensimplex import internals

EXPECTED_VERSION = "0.4.5.1"

INT, FLOAT, INTLIT, BOOL = "i64", "f64", "intlit", "bool"

BINOPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.BitAnd: "&", ast.BitOr: "|"}
CMPOPS = {ast.Gt: ">", ast.GtE: ">=", ast.Lt: "<", ast.LtE: "<=", ast.Eq: "==", ast.NotEq: "!="}
FLOAT_CONSTANTS = {
    "STRETCH_CONSTANT2", "SQUISH_CONSTANT2", "STRETCH_CONSTANT3", "SQUISH_CONSTANT3",
    "STRETCH_CONSTANT4", "SQUISH_CONSTANT4", "NORM_CONSTANT2", "NORM_CONSTANT3", "NORM_CONSTANT4",
}
EXTRAPOLATE = {"_extrapolate2": "self.extrapolate2", "_extrapolate3": "self.extrapolate3",
               "_extrapolate4": "self.extrapolate4"}
TABLE_ARGS = {"perm", "perm_grad_index3"}


class Translator:
    def __init__(self, func, source_lines):
        self.func = func
        self.lines = source_lines
        self.params = [a.arg for a in func.args.args if a.arg not in TABLE_ARGS]
        self.types = {p: FLOAT for p in self.params}
        self.assignments = {}  # name -> list of branch paths
        self._infer_types()

    # ---- analysis -------------------------------------------------------
    def _assigned(self):
        for node in ast.walk(self.func):
            if isinstance(node, ast.Assign):
                for target in node.targets:
                    yield target.id, node.value
            elif isinstance(node, ast.AugAssign):
                yield node.target.id, ast.BinOp(left=node.target, op=node.op, right=node.value)

    def _infer_types(self):
        candidates = {}
        for name, value in self._assigned():
            candidates.setdefault(name, []).append(value)
        for name in candidates:
            self.types.setdefault(name, INT)
        changed = True
        while changed:
            changed = False
            for name, values in candidates.items():
                kinds = {self.expr_type(v) for v in values}
                if kinds == {BOOL}:
                    new = BOOL
                elif FLOAT in kinds or name == "value":
                    new = FLOAT
                else:
                    new = INT
                if self.types[name] != new:
                    self.types[name] = new
                    changed = True
        self._collect_paths(self.func.body, ())

    def _collect_paths(self, body, path):
        for stmt in body:
            if isinstance(stmt, ast.Assign):
                for target in stmt.targets:
                    self.assignments.setdefault(target.id, []).append(path)
            elif isinstance(stmt, ast.AugAssign):
                self.assignments.setdefault(stmt.target.id, []).append(path + ("aug",))
            elif isinstance(stmt, ast.If):
                self._collect_paths(stmt.body, path + ((id(stmt), 0),))
                self._collect_paths(stmt.orelse, path + ((id(stmt), 1),))

    def needs_mut(self, name):
        paths = self.assignments.get(name, [])
        if any(p and p[-1] == "aug" for p in paths):
            return True
        for i in range(len(paths)):
            for j in range(i + 1, len(paths)):
                a = dict(paths[i])
                b = dict(paths[j])
                exclusive = any(k in b and a[k] != b[k] for k in a)
                if not exclusive:
                    return True
        return False

    def expr_type(self, node):
        if isinstance(node, ast.Constant):
            if isinstance(node.value, bool):
                return BOOL
            return INTLIT if isinstance(node.value, int) else FLOAT
        if isinstance(node, ast.Name):
            if node.id in FLOAT_CONSTANTS:
                return FLOAT
            return self.types.get(node.id, INT)
        if isinstance(node, ast.Call):
            return INT if node.func.id == "floor" else FLOAT
        if isinstance(node, ast.UnaryOp):
            return self.expr_type(node.operand)
        if isinstance(node, ast.IfExp):
            return self.expr_type(node.body)
        if isinstance(node, ast.BinOp):
            if isinstance(node.op, ast.Div):
                return FLOAT
            kinds = {self.expr_type(node.left), self.expr_type(node.right)}
            if FLOAT in kinds:
                return FLOAT
            return INT if INT in kinds else INTLIT
        raise NotImplementedError(ast.dump(node))

    # ---- emission -------------------------------------------------------
    def expr(self, node, want):
        """Rust for `node`, converted to `want` (INT or FLOAT)."""
        kind = self.expr_type(node)
        text = self._expr(node, FLOAT if kind == FLOAT else (want if kind == INTLIT else INT))
        if kind == BOOL:
            return self._expr(node, BOOL)
        if want == FLOAT and kind == INT:
            return f"({text}) as f64" if not _atomic(text) else f"{text} as f64"
        return text

    def _expr(self, node, kind):
        if isinstance(node, ast.Constant) and isinstance(node.value, bool):
            return "true" if node.value else "false"
        if isinstance(node, ast.Constant):
            if kind == FLOAT:
                return f"{float(node.value)!r}" if not isinstance(node.value, int) else f"{node.value}.0"
            return str(node.value) if not (isinstance(node.value, int) and node.value > 9) else hex(node.value)
        if isinstance(node, ast.Name):
            return node.id
        if isinstance(node, ast.Call):
            name = node.func.id
            if name == "floor":
                return f"floor_to_i64({self.expr(node.args[0], FLOAT)})"
            args = [a for a in node.args if not (isinstance(a, ast.Name) and a.id in TABLE_ARGS)]
            n_int = {"_extrapolate2": 2, "_extrapolate3": 3, "_extrapolate4": 4}[name]
            rendered = [self.expr(a, INT if i < n_int else FLOAT) for i, a in enumerate(args)]
            return f"{EXTRAPOLATE[name]}({', '.join(rendered)})"
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return f"-{self._paren(node.operand, kind)}"
        if isinstance(node, ast.IfExp):
            return (f"if {self.cond(node.test)} {{ {self.expr(node.body, kind)} }} "
                    f"else {{ {self.expr(node.orelse, kind)} }}")
        if isinstance(node, ast.BinOp):
            op = BINOPS[type(node.op)]
            left = self._operand(node.left, kind, node, right=False)
            right = self._operand(node.right, kind, node, right=True)
            return f"{left} {op} {right}"
        raise NotImplementedError(ast.dump(node))

    def _operand(self, node, kind, parent, right):
        text = self.expr(node, kind)
        if isinstance(node, ast.BinOp):
            prec = _precedence(node.op)
            parent_prec = _precedence(parent.op)
            if prec < parent_prec or (right and prec == parent_prec):
                return f"({text})"
        if " as f64" in text and not text.startswith("("):
            return f"({text})"
        return text

    def _paren(self, node, kind):
        text = self.expr(node, kind)
        return text if _atomic(text) else f"({text})"

    def cond(self, node):
        if isinstance(node, ast.Name) and self.types.get(node.id) == BOOL:
            return node.id
        if isinstance(node, ast.BoolOp):
            joiner = " && " if isinstance(node.op, ast.And) else " || "
            return joiner.join(self.cond(v) for v in node.values)
        if isinstance(node, ast.Compare):
            assert len(node.ops) == 1, "chained comparisons are not used by the package"
            kinds = {self.expr_type(node.left), self.expr_type(node.comparators[0])}
            kind = FLOAT if FLOAT in kinds else (BOOL if BOOL in kinds else INT)
            return (f"{self._operand_cmp(node.left, kind)} {CMPOPS[type(node.ops[0])]} "
                    f"{self._operand_cmp(node.comparators[0], kind)}")
        raise NotImplementedError(ast.dump(node))

    def _operand_cmp(self, node, kind):
        text = self.expr(node, kind)
        return f"({text})" if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitAnd) else text

    def comments_before(self, stmt, previous_end):
        out = []
        for line in self.lines[previous_end:stmt.lineno - 1]:
            stripped = line.strip()
            if stripped.startswith("#"):
                out.append("// " + stripped.lstrip("#").strip())
        return out

    def trailing_comment(self, lineno):
        line = self.lines[lineno - 1]
        if "#" in line:
            return " // " + line.split("#", 1)[1].strip()
        return ""

    def body(self, stmts, indent, previous_end):
        out = []
        for stmt in stmts:
            out.extend(indent + c for c in self.comments_before(stmt, previous_end))
            out.extend(self.stmt(stmt, indent))
            previous_end = stmt.end_lineno
        return out

    def stmt(self, stmt, indent, is_elif=False):
        if isinstance(stmt, ast.Assign):
            return [f"{indent}{t.id} = {self.expr(stmt.value, self.types[t.id])};" for t in stmt.targets]
        if isinstance(stmt, ast.AugAssign):
            name = stmt.target.id
            op = BINOPS[type(stmt.op)]
            return [f"{indent}{name} {op}= {self.expr(stmt.value, self.types[name])};"]
        if isinstance(stmt, ast.Return):
            return [f"{indent}{self.expr(stmt.value, FLOAT)}"]
        if isinstance(stmt, ast.If):
            head = "} else if" if is_elif else "if"
            out = [f"{indent if not is_elif else indent}{head} {self.cond(stmt.test)} {{"
                   f"{self.trailing_comment(stmt.lineno)}"]
            if is_elif:
                out[0] = out[0]
            out.extend(self.body(stmt.body, indent + "    ", stmt.lineno))
            orelse = stmt.orelse
            if len(orelse) == 1 and isinstance(orelse[0], ast.If) and \
                    self.lines[orelse[0].lineno - 1].strip().startswith("elif"):
                out.extend(self.stmt(orelse[0], indent, is_elif=True))
                return out
            if orelse:
                else_line = orelse[0].lineno - 1
                while not self.lines[else_line - 1].strip().startswith("else"):
                    else_line -= 1
                out.append(f"{indent}}} else {{{self.trailing_comment(else_line)}")
                out.extend(self.body(orelse, indent + "    ", else_line))
            out.append(f"{indent}}}")
            return out
        raise NotImplementedError(ast.dump(stmt))

    def function(self, rust_name, doc):
        indent = "        "
        declared = [n for n in self.types if n not in self.params]
        lines = [f"    {line}" for line in doc]
        params = ", ".join(f"{p}: f64" for p in self.params)
        lines.append(f"    pub fn {rust_name}(&self, {params}) -> f64 {{")
        for name in declared:
            mut = "mut " if self.needs_mut(name) else ""
            lines.append(f"{indent}let {mut}{name}: {self.types[name]};")
        lines.extend(self.body(self.func.body, indent, self.func.lineno))
        lines.append("    }")
        return lines


def _atomic(text):
    return text.replace("_", "").replace(".", "").isalnum()


def _precedence(op):
    return {ast.BitOr: 0, ast.BitAnd: 1, ast.Add: 2, ast.Sub: 2, ast.Mult: 3, ast.Div: 3}[type(op)]


def main():
    if opensimplex.__dict__.get("__version__", EXPECTED_VERSION) != EXPECTED_VERSION:
        sys.exit(f"expected opensimplex {EXPECTED_VERSION}")
    source = inspect.getsource(internals)
    lines = source.splitlines()
    module = ast.parse(source)
    functions = {n.name: n for n in module.body if isinstance(n, ast.FunctionDef)}
    out = [
        "//! OpenSimplex 2-D/3-D/4-D evaluation kernels, ported statement by statement from",
        f"//! the Python package `opensimplex` {EXPECTED_VERSION} (`internals.py`, MIT licence,",
        "//! after Kurt Spencer's 2014 OpenSimplexNoise.java).",
        "//!",
        "//! GENERATED by `tools/port_opensimplex.py`; do not edit by hand. Every expression keeps the",
        "//! package's operation order so the f64 results are the same IEEE operations.",
        "",
        "use super::{OpenSimplex, floor_to_i64};",
        "use super::constants::*;",
        "",
        "impl OpenSimplex {",
    ]
    docs = {
        "_noise2": ["/// 2-D OpenSimplex noise at `(x, y)`, equal to `opensimplex.noise2(x, y)`."],
        "_noise3": ["/// 3-D OpenSimplex noise at `(x, y, z)`, equal to `opensimplex.noise3(x, y, z)`."],
        "_noise4": ["/// 4-D OpenSimplex noise at `(x, y, z, w)`, equal to `opensimplex.noise4(x, y, z, w)`."],
    }
    for py_name, rust_name in (("_noise2", "noise2"), ("_noise3", "noise3"), ("_noise4", "noise4")):
        translator = Translator(functions[py_name], lines)
        docs[py_name] += ["///", "/// Values lie in about [-1, 1]; coordinates are in lattice units."]
        out.extend(translator.function(rust_name, docs[py_name]))
        out.append("")
    out[-1] = "}"
    print("\n".join(out))


if __name__ == "__main__":
    main()
