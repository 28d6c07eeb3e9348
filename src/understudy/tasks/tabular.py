"""tabular-classification and tabular-regression on the shared engine: a teacher answers table rows, a small
model (a shallow tree, a rule list, a sparse linear model, a small boosted model) learns its answers.

teach: the teacher answers every transfer row, the synthetic rows drawn around them (MUNGE) and every
evaluation row, once (stored, resumable).
train: the student learns the teacher's probabilities (or numbers) on the real and synthetic rows.
evaluate: classification reuses the text task's side-by-side evaluation (quality, agreement, speed, size,
memory, calibration, fairness, robustness, oversight) with rows in place of texts; regression measures R^2,
MAE and fidelity (R^2 of the student against the teacher).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import UserError
from .classification import ClassificationTask, model_report, ratios
from .tabular_recipe import TableRecipe, TableRegressionRecipe


class TabularClassificationTask(ClassificationTask):
    name = "tabular-classification"
    recipe_model = TableRecipe  # type: ignore[assignment]  # the tagged union has one model per task
    modality = "table"

    @staticmethod
    def check(recipe, result, **kw) -> None:  # `understudy check`'s part for tables
        from .tabular_check import check

        check(recipe, result, **kw)

    # --- shared set-up: files, not weights; no teacher call ---------------------------------------------

    def prepare(self, run) -> dict:
        if "teacher" in run.state:
            return run.state
        from ..data.tables import load_table
        from ..licences.ship import prefixed_name
        from ..modalities.table import TableModality
        from ..teachers.tabular import build_table_teacher

        recipe, state = run.recipe, run.state
        regression = recipe.regression
        d = recipe.data
        transfer, schema = load_table(
            d.transfer, recipe.resolve(d.transfer.path), d, role="transfer", regression=regression
        )
        state["schema"] = schema
        state["modality"] = TableModality(schema)
        state["store"] = run.folder.open_store()
        teacher = build_table_teacher(recipe.teacher, recipe.resolve, schema, regression)
        state["teacher"], state["remote"], state["runtime"] = teacher, hasattr(teacher, "attach"), None
        if state["remote"]:
            teacher.attach(state["store"])
        labels = None if regression else teacher.labels
        if transfer.labels is not None and labels is not None:
            transfer = _known_only(transfer, labels)
        state["transfer"] = transfer
        state["evaluation"], _ = load_table(
            d.evaluation,
            recipe.resolve(d.evaluation.path),
            d,
            role="evaluation",
            schema=schema,
            regression=regression,
            known_labels=labels,
            require_target=True,
        )
        resolved = recipe.model_copy(deep=True)
        resolved.gates = resolved.gates.with_sector(resolved.intended_use.sector)
        oversight = resolved.safety.oversight
        if oversight.enabled is None:
            oversight.enabled = bool(resolved.gates.oversight_required) and not regression
        if "alpha" not in oversight.model_fields_set and resolved.gates.oversight_alpha is not None:
            oversight.alpha = resolved.gates.oversight_alpha.threshold
        for f in (resolved.data.transfer, resolved.data.evaluation):
            f.path = resolved.resolve(f.path)
        for key in ("path", "head"):
            if getattr(resolved.teacher, key):
                setattr(resolved.teacher, key, resolved.resolve(getattr(resolved.teacher, key)))
        resolved.student.name = prefixed_name(resolved.student.name or f"{recipe.name}-student", run.licence)
        run.resolved = resolved
        run.folder.write_text("recipe.yaml", resolved.to_yaml())
        state["gold"] = None
        state["synthetic"] = self._synthetic(run)
        return state

    def _synthetic(self, run):
        """The MUNGE rows around the transfer rows: drawn the same way each time (seeded), so the store's keys match."""
        from ..data.munge import munge

        s, t = run.state, run.resolved.training
        n = int(round(t.synthetic_rows * len(s["transfer"].inputs)))
        if n == 0:
            return None
        return munge(s["transfer"].inputs, s["schema"], n, swap=t.munge_swap, spread=t.munge_spread, seed=t.seed)

    def _outputs(self, run) -> dict:
        """The teacher's outputs on transfer + evaluation rows (the synthetic rows' go to state['synthetic_outputs'])."""
        from ..label import label

        s = self.prepare(run)
        if "outputs" not in s:
            t, e, syn = s["transfer"].inputs, s["evaluation"].inputs, s["synthetic"]
            rows = t + e if syn is None else t + e + syn
            found, s["label_stats"] = label(
                s["teacher"],
                list(rows),
                s["store"],
                batch_size=run.resolved.labelling.batch_size,
                progress=run.progress,
                modality=s["modality"],
            )
            n = len(t) + len(e)
            s["outputs"] = {k: v[:n] for k, v in found.items()}
            s["synthetic_outputs"] = {k: v[n:] for k, v in found.items()} if syn is not None else None
            s["api_report"], s["n_unlabelled"] = None, 0
            if s["remote"]:
                s["api_report"] = s["teacher"].report(list(rows))
                self._drop_unanswered(run)
        return s["outputs"]

    def _drop_unanswered(self, run) -> None:
        """Rows an API teacher could not label (refused, unparseable) are counted, and not taught: their uniform
        probabilities are no answer. Evaluation rows keep theirs (the report says how many)."""
        s = run.state
        teacher, transfer, syn = s["teacher"], s["transfer"], s["synthetic"]
        n = len(transfer.inputs)
        keep = np.asarray(teacher.labelled_mask(list(transfer.inputs)), dtype=bool)
        if not keep.any():
            raise UserError(
                "the API teacher labelled none of the transfer rows; see the unparseable answers in "
                f"{s['store'].path} and check the prompt and the model"
            )
        s["outputs"] = {k: np.concatenate([v[:n][keep], v[n:]]) for k, v in s["outputs"].items()}
        transfer.inputs = transfer.inputs.take(np.flatnonzero(keep))
        if transfer.labels is not None:
            transfer.labels = [g for g, k in zip(transfer.labels, keep) if k]
        if transfer.values is not None:
            transfer.values = transfer.values[keep]
        s["n_unlabelled"] = int(n - keep.sum())
        if syn is not None:
            ok = np.asarray(teacher.labelled_mask(list(syn)), dtype=bool)
            s["synthetic"] = syn.take(np.flatnonzero(ok))
            s["synthetic_outputs"] = {k: v[ok] for k, v in s["synthetic_outputs"].items()}
            s["n_unlabelled"] += int(len(ok) - ok.sum())

    def _inputs(self, dataset):
        return dataset.inputs

    def _shown(self, run, inputs) -> list[str]:
        modality = run.state["modality"]
        return [modality.describe(r) for r in inputs]

    def _overlap(self, run) -> dict:
        from .classification import overlap

        m = run.state["modality"]
        keys = [m.key(r) for r in run.state["transfer"].inputs]
        return overlap(keys, [m.key(r) for r in run.state["evaluation"].inputs], noun="rows")

    # --- stages -----------------------------------------------------------------------------------------

    def train(self, run) -> dict:
        outputs = self._outputs(run)
        s, r = run.state, run.resolved
        transfer, n = s["transfer"], len(s["transfer"].inputs)
        rows, targets = transfer.inputs, {k: v[:n] for k, v in outputs.items()}
        gold = self._gold(run, n)
        if s["synthetic"] is not None:
            rows = rows + s["synthetic"]
            targets = {k: np.concatenate([v, s["synthetic_outputs"][k]]) for k, v in targets.items()}
            if gold is not None:
                gold = np.concatenate([gold, np.full(len(s["synthetic"]), np.nan if r.regression else -1)])
        with run.timed("train student"):
            training = self.fit_student(r, s["teacher"], s["schema"], rows, targets, gold, run.folder, run.progress)
        training.update(real_rows=n, synthetic_rows=len(rows) - n)
        if not r.regression:  # the real rows' classes as the teacher gave them: a rare one is warned of
            from .classification import teacher_label_counts

            training["teacher_labels"] = teacher_label_counts(targets["probs"][:n], s["teacher"].labels, run.progress)
        run.folder.write_json("training.json", training)
        return {"rows": len(rows)}

    def _gold(self, run, n: int):
        """The transfer rows' true answers where the recipe weighs them (training.gold_weight > 0), else None."""
        s, r = run.state, run.resolved
        if r.training.gold_weight <= 0:
            return None
        t = s["transfer"]
        if r.regression:
            return None if t.values is None else np.asarray(t.values, dtype=float)
        if t.labels is None:
            return None
        index = {name: i for i, name in enumerate(s["teacher"].labels)}
        return np.array([index.get(g, -1) if g is not None else -1 for g in t.labels])

    @staticmethod
    def fit_student(recipe, teacher, schema, rows, targets, gold, folder, progress) -> dict:
        from .. import registry

        cls = registry.load(registry.STUDENTS, recipe.student.kind)
        if not hasattr(cls, "for_table"):
            raise UserError(
                f"student kind '{recipe.student.kind}' is not a table student; for tables choose tree, rules, linear or gbm"
            )
        student = cls.for_table(schema, None if recipe.regression else teacher.labels, recipe.student)
        student.fit(rows, targets, gold=gold, settings=recipe.training, progress=progress)
        with folder.staging("student") as tmp:
            student.save(tmp)
        return dict(student.training_)

    def _student_base(self, recipe, teacher) -> dict:
        return {"from": "scratch", "name": None, "hub_id": None}  # a table student starts from nothing

    def _teacher_speed(self, run, teacher, sample) -> dict:
        from ..evaluate.speed import measure_speed

        ev = run.resolved.evaluation
        return measure_speed(teacher.predict, sample, n_threads=ev.threads, batch_1_calls=min(32, len(sample)))

    def _memory_spec(self, run, teacher) -> dict:
        spec = run.resolved.teacher.model_dump()
        return {
            "table": True,
            "spec": spec,
            "schema": run.state["schema"].to_json(),
            "regression": run.resolved.regression,
        }

    def evaluate(self, run) -> dict:
        report = super().evaluate(run)
        self._table_parts(run, report)
        return report

    def _table_parts(self, run, report: dict) -> None:
        """What only a table run has: the schema, the synthetic rows, the student's readable rules."""
        from ..students import load_student

        s = run.state
        report["data"]["schema"] = s["schema"].to_json()
        training = run.folder.read_json("training.json") or {}
        report["data"]["synthetic"] = {
            "rows": training.get("synthetic_rows", 0),
            "method": "MUNGE (Bucilua, Caruana and Niculescu-Mizil, 2006)",
            "settings": {
                k: getattr(run.resolved.training, k) for k in ("synthetic_rows", "munge_swap", "munge_spread")
            },
        }
        student = load_student(run.folder / "student", calibrated=False)
        rules = getattr(student, "rules", None)
        if callable(rules):
            report["student"]["rules"] = rules()

    def render_html(self, report: dict, path: Path) -> None:
        from ..report.html import render_html

        render_html(report, path)


class TabularRegressionTask(TabularClassificationTask):
    name = "tabular-regression"
    recipe_model = TableRegressionRecipe

    def evaluate(self, run) -> dict:
        from ..evaluate import run_evaluations
        from ..evaluate.metrics import regression_compare, regression_quality
        from ..evaluate.speed import measure_speed, peak_memory_mb
        from ..protocols import EvalContext
        from ..students import load_student
        from ..teachers import size_on_disk

        outputs = self._outputs(run)
        s, r, folder, progress = run.state, run.resolved, run.folder, run.progress
        teacher, transfer, evaluation = s["teacher"], s["transfer"], s["evaluation"]
        n = len(transfer.inputs)
        t_values = outputs["value"][n:].astype(float)
        student = load_student(folder / "student", calibrated=False)
        ev, seed = r.evaluation, r.training.seed
        y = np.asarray(evaluation.values, dtype=float)
        with run.timed("evaluate quality"):
            s_values = np.asarray(student.predict(evaluation.inputs), dtype=float)
            t_quality = regression_quality(y, t_values, n_boot=ev.bootstrap, seed=seed)
            s_quality = regression_quality(y, s_values, n_boot=ev.bootstrap, seed=seed)
            comparison = regression_compare(
                y,
                t_values,
                s_values,
                self._shown(run, evaluation.inputs),
                n_boot=ev.bootstrap,
                seed=seed,
                n_examples=ev.flip_examples,
            )

        ctx = EvalContext(
            task=self.name,
            recipe=r,
            teacher=teacher,
            student=student,
            inputs=list(evaluation.inputs),
            student_dir=folder / "student",
            progress=progress,
            groups=evaluation.groups or {},
            teacher_predict=self._teacher_predict(run, "value"),
            student_predict=student.predict,
            modality=s["modality"],
            extra={"y_values": y, "teacher_values": t_values, "student_values": s_values},
        )
        sections, skipped = run_evaluations(ctx, timed=run.timed)
        with run.timed("evaluate speed"):
            sample = evaluation.inputs[: ev.speed_texts]
            progress.note(f"timing both models on {len(sample)} evaluation rows, {ev.threads} threads")
            t_speed = None if s["remote"] else self._teacher_speed(run, teacher, sample)
            s_speed = measure_speed(student.predict, sample, n_threads=ev.threads, batch_1_calls=min(256, len(sample)))
        with run.timed("evaluate memory"):
            t_mem = s_mem = None
            if ev.measure_memory:
                rows = list(sample)[:64]
                if not s["remote"]:
                    t_mem = peak_memory_mb("teacher", self._memory_spec(run, teacher), rows, ev.threads)
                s_mem = peak_memory_mb("student", {"path": str(folder / "student")}, rows, ev.threads)
        t_size = size_on_disk(*getattr(teacher, "files", [])) or None
        s_size = size_on_disk(folder / "student")
        price = ev.cpu_price_per_hour
        teaching = folder.read_json("teaching.json") or s["label_stats"].to_report(teacher.fingerprint)
        training = folder.read_json("training.json") or {}
        report = {
            "labels": None,
            "data": {
                "transfer": transfer.to_report(),
                "evaluation": evaluation.to_report(),
                "overlap": self._overlap(run),
            },
            "labelling": teaching,
            "teacher": model_report(teacher.description, teacher.fingerprint, t_size, t_quality, t_speed, t_mem, price),
            "student": {
                **model_report(
                    f"{r.student.kind} student {r.student.name}", None, s_size, s_quality, s_speed, s_mem, price
                ),
                "kind": r.student.kind,
                "name": r.student.name,
                "base": {"from": "scratch", "name": None, "hub_id": None},
                "training": {**training, "settings": r.training.model_dump()},
            },
        }
        report["comparison"] = {**comparison, **ratios(report, t_size, s_size, t_mem, s_mem)}
        report.update(sections)
        report["skipped_evaluations"] = {
            "calibration": "a regression has no class probabilities to calibrate",
            "oversight": "deferral is calibrated on class probabilities; a regression has none",
            **skipped,
        }
        self._table_parts(run, report)
        return report


def _known_only(transfer, labels: list[str]):
    """Transfer rows whose true answer is not one of the teacher's classes keep their row, lose that answer."""
    known = set(labels)
    transfer.labels = [g if g in known else None for g in transfer.labels]
    return transfer
