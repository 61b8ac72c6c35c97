"""The switching engine: plan, preflight, switch methods, steps, verification, rollback and audit log,
shared by the drill (pytest ``checks/drills``), ``entra-standby switch``, ``failover`` and ``demote``.

It never imports pytest; every front door calls ``engine.execute`` (or ``plan.render_plan``) and reads the
``records.DrillRecord`` it returns. The package itself imports nothing, so ``inventory`` can use
``drill.settings`` without a cycle.
"""
