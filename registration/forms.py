"""The application form of a program, as the rules describe it: field specs for the templates, and the
raw answers read back from a POST. Validation is the engine's (`registration/rules.py`), never the
form's, so the page, the API and the wizard refuse exactly the same things with the same words."""

from dataclasses import dataclass, field

from django.http import QueryDict

from registration import rules as engine
from registration.models import TrainingSession
from tenant_configs.schema import ChoicesSource, FieldType, MaterialsPolicy, PledgeStage, ProgramRules, Rules


@dataclass
class FieldSpec:
    key: str
    label: str
    type: str
    required: bool
    help: str = ""
    choices: list[tuple[str, str, str]] = field(default_factory=list)  # value, label, city (institutions)
    value: object = None
    readonly: bool = False
    shown_if_field: str = ""
    shown_if_equals: str = ""
    errors: list[str] = field(default_factory=list)

    @property
    def values(self) -> list[str]:
        """Chosen values as a list (multi-choice) for the template's `in` test."""
        if isinstance(self.value, list):
            return [str(item) for item in self.value]
        return [] if self.value in (None, "") else [str(self.value)]

    @property
    def text(self) -> str:
        if isinstance(self.value, dict):
            return " ".join(str(part) for part in self.value.values())
        if isinstance(self.value, bool):
            return "yes" if self.value else "no"
        return "" if self.value is None else str(self.value)


def _choices(rules: Rules, program: ProgramRules, form_field, sessions: list[TrainingSession], answers: dict):
    if form_field.choices_source == ChoicesSource.UNITS:
        units = rules.organizations.units
        allowed = set(program.unit_codes) if program.unit_codes else {unit.code for unit in units}
        return [(unit.code, unit.name, "") for unit in units if unit.code in allowed]
    if form_field.choices_source == ChoicesSource.INSTITUTIONS:
        # Those of the city chosen in an earlier step, when there is one (the engine's own filter).
        allowed = set(engine.choice_options(rules, program, form_field, answers) or ())
        return [
            (item.code, item.name, item.city_code)
            for item in rules.organizations.institutions
            if item.code in allowed
        ]
    if form_field.choices_source == ChoicesSource.SESSIONS:
        return [(str(session.pk), session.name, "") for session in sessions]
    if form_field.type == FieldType.YES_NO:
        return [("yes", "是", ""), ("no", "否", "")]
    return [(choice.value, choice.label, "") for choice in form_field.choices]


def field_specs(
    *,
    rules: Rules,
    program: ProgramRules,
    answers: dict,
    locked: dict,
    sessions: list[TrainingSession] = (),
    only: tuple[str, ...] | None = None,
    errors: dict[str, list[str]] | None = None,
) -> list[FieldSpec]:
    """Specs of the program's fields (or of `only` these keys, a wizard step), with current values.
    `locked` answers come from the profile and are shown read-only; `file` fields are left to the
    document inputs."""
    errors = errors or {}
    specs = []
    on_page = {f.key for f in program.fields if only is None or f.key in only}
    for form_field in program.fields:
        if form_field.type == FieldType.FILE or (only is not None and form_field.key not in only):
            continue
        condition = form_field.shown_if
        if condition is not None and condition.field not in on_page:
            # Decided by an answer given on an earlier page (a wizard step): show the field or leave it out.
            if not _condition_holds(answers.get(condition.field), condition.equals):
                continue
            condition = None
        readonly = form_field.key in locked or (
            form_field.choices_source == ChoicesSource.SESSIONS and bool(answers.get(form_field.key))
        )
        specs.append(
            FieldSpec(
                key=form_field.key,
                label=form_field.label,
                type=str(form_field.type),
                required=form_field.required,
                help=form_field.help,
                choices=_choices(rules, program, form_field, list(sessions), answers),
                value=locked.get(form_field.key, answers.get(form_field.key)),
                readonly=readonly,
                shown_if_field=condition.field if condition else "",
                shown_if_equals=condition.equals if condition else "",
                errors=errors.get(form_field.key, []),
            )
        )
    return specs


def _condition_holds(value: object, equals: str) -> bool:
    if isinstance(value, bool):
        return ("yes" if value else "no") == equals
    if isinstance(value, list):
        return equals in value
    return value == equals


def document_specs(program: ProgramRules, only: tuple[str, ...] | None = None):
    """Documents to upload (or those of a wizard step), with the file field key that uploads each."""
    uploading = {f.document: f.key for f in program.fields if f.type == FieldType.FILE}
    return [
        (document, uploading.get(document.key, document.key))
        for document in program.documents
        if only is None or document.key in only
    ]


def application_pledges(program: ProgramRules, only: tuple[str, ...] | None = None):
    return [
        pledge
        for pledge in program.pledges
        if pledge.stage == PledgeStage.APPLICATION and (only is None or pledge.key in only)
    ]


def read_answers(program: ProgramRules, data: QueryDict, only: tuple[str, ...] | None = None) -> dict:
    """Raw answers from a POST: lists for multi-choice, text for the rest; absent keys stay absent."""
    answers: dict[str, object] = {}
    for form_field in program.fields:
        if form_field.type == FieldType.FILE or (only is not None and form_field.key not in only):
            continue
        if form_field.type == FieldType.MULTI_CHOICE:
            answers[form_field.key] = data.getlist(form_field.key)
        elif form_field.key in data:
            answers[form_field.key] = data.get(form_field.key, "")
    return answers


def read_pledges(
    program: ProgramRules, data: QueryDict, only: tuple[str, ...] | None = None
) -> dict[str, str]:
    """Accepted pledges: the checkbox carries the version the person read."""
    return {
        pledge.key: data.get(f"pledge_{pledge.key}", "")
        for pledge in application_pledges(program, only)
        if data.get(f"pledge_{pledge.key}")
    }


def read_materials(program: ProgramRules, data: QueryDict) -> bool | None:
    if program.price.materials_policy != MaterialsPolicy.OPTIONAL:
        return None
    value = data.get("with_materials", "")
    return {"yes": True, "no": False}.get(value)
