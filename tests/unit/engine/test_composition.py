from tests.unit.engine.helpers import Driver, definition, expr, log, seq

VARS = [{"name": "i", "type": "integer", "default": 0},
        {"name": "seen", "type": "array", "default": []}]


def test_sequence_runs_children_in_order_and_passes_result():
    d = Driver(definition(seq("s", log("a", "one"), log("b", expr("result + ' two'")))))
    result = d.advance()
    assert result.status == "finished"
    assert d.logs() == ["one", "one two"]
    assert d.state["activity_outputs"]["s"] == "one two"


def test_empty_sequence_finishes_at_once():
    assert Driver(definition(seq("s"))).advance().status == "finished"


def test_if_runs_then_branch_when_condition_holds():
    root = {"id": "if", "type": "If", "condition": expr("input.n > 1"),
            "then": log("t", "then"), "else": log("e", "else")}
    d = Driver(definition(root), input={"n": 5})
    d.advance()
    assert d.logs() == ["then"]


def test_if_runs_else_branch_when_condition_fails():
    root = {"id": "if", "type": "If", "condition": expr("input.n > 1"),
            "then": log("t", "then"), "else": log("e", "else")}
    d = Driver(definition(root), input={"n": 0})
    d.advance()
    assert d.logs() == ["else"]


def _switch(mode):
    return {
        "id": "sw", "type": "Switch", "mode": mode,
        "cases": [
            {"condition": expr("input.n > 10"), "activity": log("big", "big")},
            {"condition": expr("input.n > 5"), "activity": log("mid", "mid")},
            {"condition": expr("input.n < 0"), "activity": log("neg", "neg")},
        ],
        "default": log("def", "default"),
    }


def test_switch_first_runs_only_the_first_matching_case():
    d = Driver(definition(_switch("first")), input={"n": 20})
    d.advance()
    assert d.logs() == ["big"]


def test_switch_all_runs_every_matching_case_in_order():
    d = Driver(definition(_switch("all")), input={"n": 20})
    d.advance()
    assert d.logs() == ["big", "mid"]


def test_switch_without_match_runs_default():
    d = Driver(definition(_switch("first")), input={"n": 1})
    d.advance()
    assert d.logs() == ["default"]


def test_while_loops_until_condition_fails():
    root = {"id": "w", "type": "While", "condition": expr("variables.i < 3"),
            "body": {"id": "inc", "type": "SetVariable", "variable": "i",
                     "value": expr("variables.i + 1")}}
    d = Driver(definition(root, variables=VARS))
    assert d.advance().status == "finished"
    assert d.state["variables"]["i"] == 3
    assert d.completed_ids().count("inc") == 3


def test_break_exits_innermost_while_loop():
    inner = {"id": "inner", "type": "While", "condition": True, "body": seq(
        "inner-body",
        {"id": "inc", "type": "SetVariable", "variable": "i", "value": expr("variables.i + 1")},
        {"id": "stop", "type": "If", "condition": expr("variables.i % 3 == 0"),
         "then": {"id": "brk", "type": "Break"}},
        log("after-if", "inner continued"),
    )}
    outer = {"id": "outer", "type": "For", "start": 1, "end": 2, "body": seq(
        "outer-body", inner, log("after-inner", expr("'outer ' + str(index)")))}
    d = Driver(definition(outer, variables=VARS))
    assert d.advance().status == "finished"
    # each inner loop stops at the first multiple of 3; the outer loop keeps going
    assert d.state["variables"]["i"] == 6
    assert d.logs().count("inner continued") == 4
    assert "outer 1" in d.logs() and "outer 2" in d.logs()


def test_break_from_nested_flowchart_inside_loop_ends_the_loop():
    body = {"id": "fc", "type": "Flowchart", "activities": [
        {"id": "inc", "type": "SetVariable", "variable": "i", "value": expr("variables.i + 1")},
        {"id": "check", "type": "If", "condition": expr("variables.i >= 2")},
        {"id": "brk", "type": "Break"},
        log("go", "continue"),
    ], "connections": [
        {"source": "inc", "target": "check"},
        {"source": "check", "outcome": "true", "target": "brk"},
        {"source": "check", "outcome": "false", "target": "go"},
    ]}
    root = seq("s", {"id": "w", "type": "While", "condition": True, "body": body},
               log("done", "after loop"))
    d = Driver(definition(root, variables=VARS))
    assert d.advance().status == "finished"
    assert d.state["variables"]["i"] == 2
    assert d.logs() == ["continue", "after loop"]


def test_for_counts_with_step_and_inclusive_end():
    root = {"id": "f", "type": "For", "start": 10, "end": 0, "step": -5,
            "body": log("l", expr("str(index)"))}
    d = Driver(definition(root))
    d.advance()
    assert d.logs() == ["10", "5", "0"]


def test_for_with_exclusive_end_stops_before_end():
    root = {"id": "f", "type": "For", "start": 0, "end": 3, "inclusive": False,
            "body": log("l", expr("str(index)"))}
    d = Driver(definition(root))
    d.advance()
    assert d.logs() == ["0", "1", "2"]


def test_foreach_exposes_item_and_index():
    root = {"id": "fe", "type": "ForEach", "items": expr("input.names"),
            "body": log("l", {"template": "{{ index }}:{{ item }}"})}
    d = Driver(definition(root), input={"names": ["a", "b", "c"]})
    d.advance()
    assert d.logs() == ["0:a", "1:b", "2:c"]


def test_nested_flowchart_in_sequence_runs_before_the_next_step():
    fc = {"id": "fc", "type": "Flowchart", "activities": [log("x", "x"), log("y", "y")],
          "connections": [{"source": "x", "target": "y"}]}
    d = Driver(definition(seq("s", log("first", "first"), fc, log("last", "last"))))
    assert d.advance().status == "finished"
    assert d.logs() == ["first", "x", "y", "last"]


def test_fork_wait_all_collects_branch_outputs_in_order():
    root = {"id": "fork", "type": "Fork", "branches": [
        seq("b1", log("a1", "a1"), log("a2", "a2")), log("b2", "b2")]}
    d = Driver(definition(root))
    assert d.advance().status == "finished"
    assert d.state["activity_outputs"]["fork"] == ["a2", "b2"]


def test_fork_wait_any_cancels_the_slower_branch_and_its_bookmark():
    root = seq("s", {"id": "fork", "type": "Fork", "join": "wait_any", "branches": [
        {"id": "slow", "type": "Event", "event": "never"},
        seq("fast", {"id": "wait", "type": "Delay", "duration": 60}, log("fast-log", "fast")),
    ]}, log("after", "after"))
    d = Driver(definition(root))
    first = d.advance()
    assert first.status == "suspended"
    keys = {b["activity_id"]: b["key"] for b in first.bookmarks}
    assert set(keys) == {"slow", "wait"}
    d.pass_time(60)
    result = d.resume(keys["wait"])
    assert result.status == "finished"
    assert result.removed_bookmarks == [keys["slow"]]
    assert d.open_bookmarks() == {}
    assert d.logs() == ["fast", "after"]
    cancelled = [e["activity_id"] for e in d.journal if e["event"] == "cancelled"]
    assert cancelled == ["slow"]


def test_fork_wait_any_disowns_the_slower_branch_task(tmp_path):
    from runtime.engine import activity
    from tests.unit.engine.helpers import fresh_registry

    registry = fresh_registry()

    @activity("test.work", registry=registry)
    def work(*, n: int) -> int:
        return n

    root = {"id": "fork", "type": "Fork", "join": "wait_any", "branches": [
        {"id": "t1", "type": "test.work", "input": {"n": 1}},
        {"id": "t2", "type": "test.work", "input": {"n": 2}},
    ]}
    d = Driver(definition(root), registry=registry)
    tasks = {t.activity_id: t.key for t in d.advance().tasks}
    result = d.complete(tasks["t2"], 2)
    assert result.status == "finished"
    assert result.cancelled_tasks == [tasks["t1"]]
    late = d.complete(tasks["t1"], 1)
    assert late.ignored is True


def test_parallel_foreach_completes_100_tasks_out_of_order():
    from runtime.engine import activity
    from tests.unit.engine.helpers import fresh_registry

    registry = fresh_registry()

    @activity("test.square", registry=registry)
    def square(*, n: int) -> int:
        return n * n

    root = {"id": "pfe", "type": "ParallelForEach", "items": expr("input.numbers"),
            "max_parallel": 0,
            "body": {"id": "sq", "type": "test.square", "input": {"n": expr("item")}}}
    d = Driver(definition(root), input={"numbers": list(range(100))}, registry=registry)
    first = d.advance()
    assert first.status == "running"
    assert len(first.tasks) == 100
    by_key = {t.key: t.input["n"] for t in first.tasks}
    for key in sorted(by_key, key=lambda k: (by_key[k] * 37) % 101):  # a scrambled order
        result = d.complete(key, by_key[key] ** 2)
    assert result.status == "finished"
    assert d.state["activity_outputs"]["pfe"] == [n * n for n in range(100)]


def test_parallel_foreach_respects_max_parallel():
    from runtime.engine import activity
    from tests.unit.engine.helpers import fresh_registry

    registry = fresh_registry()

    @activity("test.echo", registry=registry)
    def echo(*, n: int) -> int:
        return n

    root = {"id": "pfe", "type": "ParallelForEach", "items": [1, 2, 3, 4, 5],
            "max_parallel": 2,
            "body": {"id": "e", "type": "test.echo", "input": {"n": expr("item")}}}
    d = Driver(definition(root), registry=registry)
    outstanding = [t.key for t in d.advance().tasks]
    completed = 0
    while outstanding:
        assert len(d.open_tasks()) <= 2
        key = outstanding.pop(0)
        result = d.complete(key, completed)
        completed += 1
        outstanding += [t.key for t in result.tasks]
    assert completed == 5
    assert result.status == "finished"


def test_join_wait_all_in_a_looping_flowchart_fires_once_per_round():
    fc = {"id": "fc", "type": "Flowchart", "start": "begin", "activities": [
        {"id": "begin", "type": "SetVariable", "variable": "i", "value": expr("variables.i + 1")},
        log("left", "left"),
        log("right", "right"),
        {"id": "join", "type": "Join", "mode": "wait_all"},
        log("joined", expr("'joined ' + str(variables.i)")),
        {"id": "again", "type": "If", "condition": expr("variables.i < 3")},
    ], "connections": [
        {"source": "begin", "target": "left"},
        {"source": "begin", "target": "right"},
        {"source": "left", "target": "join"},
        {"source": "right", "target": "join"},
        {"source": "join", "target": "joined"},
        {"source": "joined", "target": "again"},
        {"source": "again", "outcome": "true", "target": "begin"},
    ]}
    d = Driver(definition(fc, variables=VARS))
    assert d.advance().status == "finished"
    assert [m for m in d.logs() if m.startswith("joined")] == ["joined 1", "joined 2", "joined 3"]
    assert d.logs().count("left") == 3


def test_join_wait_any_fires_on_first_arrival_and_cancels_the_other_branch():
    fc = {"id": "fc", "type": "Flowchart", "start": "split", "activities": [
        log("split", "split"),
        {"id": "slow", "type": "Event", "event": "slow"},
        log("fast", "fast"),
        {"id": "join", "type": "Join", "mode": "wait_any"},
        log("after", "after"),
    ], "connections": [
        {"source": "split", "target": "slow"},
        {"source": "split", "target": "fast"},
        {"source": "slow", "target": "join"},
        {"source": "fast", "target": "join"},
        {"source": "join", "target": "after"},
    ]}
    d = Driver(definition(fc))
    result = d.advance()
    assert result.status == "finished"
    assert d.logs() == ["split", "fast", "after"]
    assert len(result.removed_bookmarks) == 1
    assert d.open_bookmarks() == {}


def test_flowchart_if_outcomes_choose_the_connection():
    fc = {"id": "fc", "type": "Flowchart", "activities": [
        {"id": "check", "type": "If", "condition": expr("input.ok")},
        log("yes", "yes"), log("no", "no"),
    ], "connections": [
        {"source": "check", "outcome": "true", "target": "yes"},
        {"source": "check", "outcome": "false", "target": "no"},
    ]}
    d = Driver(definition(fc), input={"ok": False})
    d.advance()
    assert d.logs() == ["no"]


def test_flowchart_switch_outcomes_choose_connections():
    fc = {"id": "fc", "type": "Flowchart", "activities": [
        {"id": "sw", "type": "Switch", "mode": "all", "cases": [
            {"condition": expr("input.n > 1"), "outcome": "gt1"},
            {"condition": expr("input.n > 2"), "outcome": "gt2"},
        ]},
        log("a", "gt1"), log("b", "gt2"), log("c", "default"),
    ], "connections": [
        {"source": "sw", "outcome": "gt1", "target": "a"},
        {"source": "sw", "outcome": "gt2", "target": "b"},
        {"source": "sw", "outcome": "default", "target": "c"},
    ]}
    d = Driver(definition(fc), input={"n": 5})
    d.advance()
    assert sorted(d.logs()) == ["gt1", "gt2"]
    d2 = Driver(definition(fc), input={"n": 0})
    d2.advance()
    assert d2.logs() == ["default"]


def test_break_in_one_fork_branch_cancels_the_waiting_sibling_inside_the_loop():
    body = {"id": "fork", "type": "Fork", "branches": [
        {"id": "wait", "type": "Event", "event": "never"},
        seq("s", log("l", "breaking"), {"id": "brk", "type": "Break"}),
    ]}
    root = seq("outer", {"id": "w", "type": "While", "condition": True, "body": body},
               log("after", "after"))
    d = Driver(definition(root))
    result = d.advance()
    assert result.status == "finished"
    assert d.logs() == ["breaking", "after"]
    assert len(result.bookmarks) == 1
    assert result.removed_bookmarks == [result.bookmarks[0]["key"]]
    assert d.open_bookmarks() == {}


def test_nested_foreach_sees_the_innermost_item():
    inner = {"id": "inner", "type": "ForEach", "items": expr("item"),
             "body": log("l", expr("str(item)"))}
    root = {"id": "outer", "type": "ForEach", "items": [[1, 2], [3]], "body": inner}
    d = Driver(definition(root))
    d.advance()
    assert d.logs() == ["1", "2", "3"]
