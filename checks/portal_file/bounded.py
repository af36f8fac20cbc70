"""Reading YAML or JSON that an admin uploads, within bounds, so that a hostile file costs nothing.

A few hundred bytes of YAML can expand into billions of values through aliases ("billion
laughs", or merge keys that copy mappings), and deep nesting makes both parsers raise
RecursionError. Here the file's size is capped before it is parsed; the YAML composer counts
aliases and nesting while it builds the node graph, and the graph's expanded size (an alias
weighs as much as its anchor) is checked before anything is constructed; JSON's nesting is
checked after parsing. Every refusal is a LimitError with a message for the admin.
"""

import json

import yaml

# 100,000 bots with 32-character tokens fit in about 10 MB of JSON.
MAX_FILE_BYTES = 32 * 1024 * 1024
MAX_ALIASES = 100
MAX_DEPTH = 32
MAX_VALUES = 200_000
EXPANSION_CAP = MAX_FILE_BYTES + MAX_VALUES + 1


class LimitError(ValueError):
    """The file goes beyond one of the bounds above."""


def check_size(size: int) -> None:
    if size > MAX_FILE_BYTES:
        raise LimitError(
            f"the file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB ({size / (1024 * 1024):.1f} MB): "
            "split it into several files"
        )


def _line(node_or_event) -> str:
    mark = getattr(node_or_event, "start_mark", None)
    return f"line {mark.line + 1}: " if mark else ""


class BoundedLoader(yaml.SafeLoader):
    """yaml.SafeLoader that refuses too many aliases, too deep nesting and too large an expansion."""

    def __init__(self, stream):
        super().__init__(stream)
        self._aliases = 0
        self._depth = 0

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise LimitError(
                    f"{_line(self.peek_event())}more than {MAX_ALIASES} aliases (*name): "
                    "BotWatch does not expand more than that"
                )
            return super().compose_node(parent, index)
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise LimitError(f"{_line(self.peek_event())}nested more than {MAX_DEPTH} levels deep")
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def get_single_data(self):
        node = self.get_single_node()
        if node is None:
            return None
        # What the aliases add beyond the file's own values: a large file without aliases is
        # bounded by its size, a small one with them is not.
        weight, own = _weight(node)
        if weight - own > MAX_VALUES:
            raise LimitError(f"the file expands to more than {MAX_VALUES:,} values through its aliases (*name)")
        data = self.construct_document(node)
        check_depth(data)  # aliases can nest parts inside parts beyond what any one part does
        return data


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _weight(root: yaml.Node) -> tuple[int, int]:
    """(values the graph stands for once every alias is expanded, its own distinct nodes): a shared
    node counts once per use in the first.

    Iterative (post-order), since chains of aliases can be deeper than the nesting of any one part.
    """
    weights: dict[int, int] = {}
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if id(node) in weights:
            continue
        children = _children(node)
        if children_done:
            # Capped: enough to refuse (no file has that many nodes of its own), and the sums stay small.
            weights[id(node)] = min(1 + sum(weights[id(c)] for c in children), EXPANSION_CAP)
            continue
        stack.append((node, True))
        stack.extend((child, False) for child in children if id(child) not in weights)
    return weights[id(root)], len(weights)


def load_yaml(text: str) -> object:
    check_size(len(text.encode("utf-8")))
    return yaml.load(text, Loader=BoundedLoader)  # noqa: S506 (a SafeLoader with bounds)


def load_json(text: str) -> object:
    check_size(len(text.encode("utf-8")))
    try:
        data = json.loads(text)
    except RecursionError:
        raise LimitError(f"nested more than {MAX_DEPTH} levels deep") from None
    check_depth(data)
    return data


def check_depth(data: object) -> None:
    # Iterative: the data may be nested beyond what a recursive walk survives.
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise LimitError(f"nested more than {MAX_DEPTH} levels deep")
        if isinstance(value, dict):
            stack.extend((child, depth + 1) for child in value.values())
        elif isinstance(value, list):
            stack.extend((child, depth + 1) for child in value)
