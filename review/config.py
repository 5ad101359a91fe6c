"""The Label Studio labeling configuration for reviewing taxonomy nodes, and the names of its fields.

What the reviewer sees (top to bottom): the node's path from the top level, its name, its description with the
node's size beside it (from the node's statistics), its members (numbered, heaviest first, with weights; "… and N
more" for the rest), its siblings, then ONE action, a radio choice (hotkeys in brackets):

* **Approve** [a] (pre-selected): the node stays as it is. Submitting the task unchanged approves it: one click.
* **Rename** [r]: the Name and Description boxes appear, pre-filled with the current ones; edit them.
* **Merge** [m]: the nearest nodes of the same level appear (faiss over node centroids), with their similarity;
  choose one (required).
* **Move** [v]: the nodes of the level above appear (the nearest ones when that level is large); choose one.
* **Split** [s]: up to :data:`SPLIT_GROUPS` new groups, each a name and the numbered members ticked into it (the
  next group appears once a member is ticked in the one before). Members not ticked stay in this node, which keeps
  its id, and its name and description (shown above the groups, editable).
* **Flag** [f]: nothing is applied; a Comment is required (what the taxonomist reads).

Only the chosen action's controls are shown (``visibleWhen``), and Label Studio submits only the results of the
visible controls, so an annotation cannot merge and move at once. The pull reads the action first and ignores
anything else (older annotations without an action are read the old way, see :mod:`review.pull`).

Text boxes are plain boxes (``showSubmitButton="false"``: no "Add" button, no submission counter): what is typed
is taken when the task is submitted or updated.

Every piece of task data is shown with ``<Text>`` (plain text, never HTML) and dynamic ``<Choices>`` options carry
only ``value`` (shown as text) and ``alias`` (the node id or member number, not shown): no ``HyperText``, no ``html``
option keys, so a node named ``<script>alert(1)</script>`` is displayed as those characters.
"""

from __future__ import annotations

from html import escape

#: object tags (task data keys, shown as text)
DATA_KEYS = ("path", "name", "description", "size", "members", "siblings")
#: dynamic choices (lists of {"value": label, "alias": node uid or member number})
OPTION_KEYS = ("merge_options", "move_options", "split_members")
#: what a pull writes back to each annotated task (a data manager column)
OUTCOME_KEY = "taxo_outcome"

#: control tag names (``from_name`` in annotation results)
ACTION = "action"
NEW_NAME = "new_name"
NEW_DESCRIPTION = "new_description"
MERGE_INTO = "merge_into"
MOVE_TO = "move_to"
SPLIT_NAME = "split_name_{}"  #: .format(group number, 1-based)
SPLIT_MEMBERS = "split_members_{}"
SPLIT_GROUPS = 3
COMMENT = "comment"  #: required with Flag
NOTE = "note"  #: optional with the other actions
#: legacy controls (projects pushed before the one-action config; still read by pull)
SPLIT = "split_groups"
DECISION = "decision"

APPROVE = "Approve"
RENAME = "Rename"
MERGE = "Merge"
MOVE = "Move"
SPLIT_ACTION = "Split"
FLAG = "Flag"
ACTIONS = (APPROVE, RENAME, MERGE, MOVE, SPLIT_ACTION, FLAG)
HOTKEYS = {APPROVE: "a", RENAME: "r", MERGE: "m", MOVE: "v", SPLIT_ACTION: "s", FLAG: "f"}
HINTS = {
    APPROVE: "The node is fine as it is",
    RENAME: "Change the name and/or the description",
    MERGE: "Merge this node into one of its nearest nodes",
    MOVE: "Put this node under another parent",
    SPLIT_ACTION: "Split some members off into new nodes",
    FLAG: "Nothing is applied; say what is wrong in the comment",
}
#: legacy decision values
LEGACY_APPROVE = "Approve / apply my edits"
LEGACY_FLAG = "Flag for discussion"

#: the prediction's model_version, so that Label Studio shows where the pre-filled answer came from
MODEL_VERSION = "taxo-current"


def _when(*actions: str) -> str:
    return f'visibleWhen="choice-selected" whenTagName="{ACTION}" whenChoiceValue="{",".join(actions)}"'


def shown(name: str, header: str | None = None) -> str:
    """A piece of task data shown as plain text (``<Text>``, never HTML), under a small header unless None; for a
    labeling config, indented one level."""
    text = f'<Text name="{name}" value="${name}" selectionEnabled="false"/>'
    return text if header is None else f'<Header value="{escape(header)}" size="6"/>\n  {text}'


#: the style every labeling config starts with: task texts keep their line breaks
PRE_WRAP = ".htx-text { white-space: pre-wrap; }"


def _box(name: str, to: str, *, rows: int, placeholder: str, extra: str = "") -> str:
    """A plain text box: no Add button, no submission counter; the text is taken on submit."""
    return (f'<TextArea name="{name}" toName="{to}" editable="true" transcription="true" maxSubmissions="1" '
            f'rows="{rows}" showSubmitButton="false" placeholder="{escape(placeholder)}"{extra}/>')


def _split_groups() -> str:
    out = []
    for g in range(1, SPLIT_GROUPS + 1):
        block = (
            f'<View className="taxo-group">\n'
            f'      <Header value="New group {g}: its name (leave empty to have it named for you) and its members" '
            f'size="6"/>\n'
            f'      {_box(SPLIT_NAME.format(g), "members", rows=1, placeholder=f"Name of new group {g}")}\n'
            f'      <Choices name="{SPLIT_MEMBERS.format(g)}" toName="members" value="$split_members" '
            f'choice="multiple" showInline="true"'
            + (' required="true" requiredMessage="Split: tick the members of new group 1 (the members you do '
               'not tick stay in this node)."' if g == 1 else "")
            + "/>\n    </View>"
        )
        if g > 1:  # the next group appears once a member is ticked in the one before
            block = (f'<View visibleWhen="choice-selected" whenTagName="{SPLIT_MEMBERS.format(g - 1)}">\n      '
                     + block + "\n    </View>")
        out.append(block)
    return "\n    ".join(out)


def _choices() -> str:
    return "\n    ".join(
        f'<Choice value="{a}" hotkey="{HOTKEYS[a]}" hint="{escape(HINTS[a])}"/>' for a in ACTIONS
    )


LABEL_CONFIG = f"""<View>
  <Style>
    {PRE_WRAP}
    .taxo-group {{ border-left: 3px solid #ddd; padding-left: 8px; margin: 6px 0; }}
  </Style>
  <Header value="Review this node: choose one action. Submitting it unchanged approves it." size="4"/>
  {shown("path", "Path from the top")}
  {shown("name", "Name")}
  {shown("description", "Description")}
  {shown("size")}
  {shown("members", "Members, heaviest first")}
  {shown("siblings", "Siblings (same parent)")}
  <Header value="Action" size="5"/>
  <Choices name="{ACTION}" toName="name" choice="single-radio" showInline="true" required="true"
           requiredMessage="Choose an action: Approve, Rename, Merge, Move, Split or Flag.">
    {_choices()}
  </Choices>
  <View {_when(RENAME, SPLIT_ACTION)}>
    <Header value="Name and description (with Split: of the members you do not tick, which stay in this node)"
            size="6"/>
    {_box(NEW_NAME, "name", rows=1, placeholder="Name")}
    {_box(NEW_DESCRIPTION, "description", rows=3, placeholder="Description")}
  </View>
  <View {_when(MERGE)}>
    <Header value="Merge into (its members and children join the chosen node; this node disappears)" size="6"/>
    <Choices name="{MERGE_INTO}" toName="name" value="$merge_options" choice="single-radio" required="true"
             requiredMessage="Merge: choose the node to merge into (or choose another action)."/>
  </View>
  <View {_when(MOVE)}>
    <Header value="Move under (a node one level up)" size="6"/>
    <Choices name="{MOVE_TO}" toName="name" value="$move_options" choice="single-radio" required="true"
             requiredMessage="Move: choose the new parent (or choose another action)."/>
  </View>
  <View {_when(SPLIT_ACTION)}>
    {_split_groups()}
  </View>
  <View {_when(FLAG)}>
    <Header value="Comment: what should be discussed? (required)" size="6"/>
    {_box(COMMENT, "name", rows=3, placeholder="Why this node needs a discussion",
          extra=' required="true" requiredMessage="Flag: write a comment saying what should be discussed."')}
  </View>
  <View {_when(APPROVE, RENAME, MERGE, MOVE, SPLIT_ACTION)}>
    <Header value="Note (optional)" size="6"/>
    {_box(NOTE, "name", rows=2, placeholder="Anything the taxonomist should know")}
  </View>
</View>
"""

INSTRUCTIONS = f"""<p><b>Review one taxonomy node per task.</b> Read its path, name, description, members and
siblings, then choose <b>one action</b> and submit (<kbd>Ctrl</kbd>+<kbd>Enter</kbd>). The task opens with
<b>Approve</b> chosen: submitting it unchanged approves the node.</p>
<ul>
<li><b>Approve</b> [<kbd>a</kbd>]: the node is fine as it is.</li>
<li><b>Rename</b> [<kbd>r</kbd>]: edit the pre-filled name and/or description.</li>
<li><b>Merge</b> [<kbd>m</kbd>]: choose one of the nearest nodes of the same level (with their similarity); this
node's members join it and this node disappears.</li>
<li><b>Move</b> [<kbd>v</kbd>]: choose a new parent one level up.</li>
<li><b>Split</b> [<kbd>s</kbd>]: tick the members of a new group and give it a name (empty: it is named for you);
once you tick a member, a further group appears (up to {SPLIT_GROUPS}). The members you do not tick stay in this
node, which keeps its identity; its name and description can be edited above the groups.</li>
<li><b>Flag</b> [<kbd>f</kbd>]: nothing is applied; the comment (required) is reported to the taxonomist.</li>
</ul>
<p>Only the chosen action counts. Nothing changes in the taxonomy until the taxonomist runs <code>taxo review
pull</code>; its outcome for each task is then written into the task's <i>{OUTCOME_KEY}</i> column (applied in
version N, approved, flagged, or refused with the reason: fix the annotation and submit it again).</p>
"""


def textarea_result(from_name: str, to_name: str, text: str) -> dict:
    return {"from_name": from_name, "to_name": to_name, "type": "textarea", "value": {"text": [text]}}


def choices_result(from_name: str, to_name: str, *choices: str) -> dict:
    return {"from_name": from_name, "to_name": to_name, "type": "choices", "value": {"choices": list(choices)}}


def prediction_result(name: str, description: str) -> list[dict]:
    """The pre-filled answer: action Approve, the current name and description (shown with Rename and Split)."""
    out = [choices_result(ACTION, "name", APPROVE), textarea_result(NEW_NAME, "name", name)]
    if description:
        out.append(textarea_result(NEW_DESCRIPTION, "description", description))
    return out


def annotation_result(
    action: str,
    *,
    name: str | None = None,
    description: str | None = None,
    target: str | None = None,
    groups: list[tuple[str | None, list[str]]] | None = None,
    comment: str | None = None,
) -> list[dict]:
    """What the editor submits for one action (tests, benchmarks): ``target`` is the merge or move option (label or
    alias), ``groups`` the split groups as (name or None, [member option labels or aliases])."""
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}")
    out = [choices_result(ACTION, "name", action)]
    if name is not None:
        out.append(textarea_result(NEW_NAME, "name", name))
    if description is not None:
        out.append(textarea_result(NEW_DESCRIPTION, "description", description))
    if target is not None:
        out.append(choices_result(MERGE_INTO if action == MERGE else MOVE_TO, "name", target))
    for g, (gname, members) in enumerate(groups or [], start=1):
        if gname:
            out.append(textarea_result(SPLIT_NAME.format(g), "members", gname))
        if members:
            out.append(choices_result(SPLIT_MEMBERS.format(g), "members", *members))
    if comment is not None:
        out.append(textarea_result(COMMENT if action == FLAG else NOTE, "name", comment))
    return out
