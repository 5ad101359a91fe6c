"""The Label Studio labeling configuration for reviewing taxonomy nodes, and the names of its fields.

What the reviewer sees (top to bottom): the node's path from the top level, its name and description, its members
(numbered, heaviest first, with weights; "… and N more" for the rest), its siblings, then the controls:

* **Name** and **Description** text areas, pre-filled (by a prediction) with the current ones: edit them to rename
  or re-describe the node;
* **Merge into**: one of the nearest nodes of the same level (faiss over node centroids), with their similarity;
* **Move under**: a node of the level above (the nearest ones when that level is large);
* **Split**: one group per line, ``New name: 1, 4, 7`` (member numbers as listed, or exact member texts); members
  not listed stay together in a part that keeps the node's name;
* **Decision**: "Approve / apply my edits" (pre-selected) or "Flag for discussion" (nothing of the annotation is
  applied; it is reported with the comment);
* **Comment**.

Submitting the pre-filled task unchanged approves the node: one click.

Every piece of task data is shown with ``<Text>`` (plain text, never HTML) and dynamic ``<Choices>`` options carry
only ``value`` (shown as text) and ``alias`` (the node id, not shown): no ``HyperText``, no ``html`` option keys, so a
node named ``<script>alert(1)</script>`` is displayed as those characters.
"""

from __future__ import annotations

#: object tags (task data keys, shown as text)
DATA_KEYS = ("path", "name", "description", "members", "siblings")
#: dynamic choices (lists of {"value": label, "alias": node uid})
OPTION_KEYS = ("merge_options", "move_options")

#: control tag names (``from_name`` in annotation results)
NEW_NAME = "new_name"
NEW_DESCRIPTION = "new_description"
MERGE_INTO = "merge_into"
MOVE_TO = "move_to"
SPLIT = "split_groups"
DECISION = "decision"
COMMENT = "comment"

APPROVE = "Approve / apply my edits"
FLAG = "Flag for discussion"

#: the prediction's model_version, so that Label Studio shows where the pre-filled answer came from
MODEL_VERSION = "taxo-current"

LABEL_CONFIG = f"""<View>
  <Style>.htx-text {{ white-space: pre-wrap; }}</Style>
  <Header value="Review this node. Submitting it unchanged approves it." size="4"/>
  <Header value="Path from the top" size="6"/>
  <Text name="path" value="$path" selectionEnabled="false"/>
  <Header value="Name" size="6"/>
  <Text name="name" value="$name" selectionEnabled="false"/>
  <Header value="Description" size="6"/>
  <Text name="description" value="$description" selectionEnabled="false"/>
  <Header value="Members, heaviest first (the numbers are used by Split)" size="6"/>
  <Text name="members" value="$members" selectionEnabled="false"/>
  <Header value="Siblings (same parent)" size="6"/>
  <Text name="siblings" value="$siblings" selectionEnabled="false"/>
  <Header value="Rename: edit the name and/or the description" size="5"/>
  <TextArea name="{NEW_NAME}" toName="name" editable="true" transcription="true" maxSubmissions="1" rows="1"
            placeholder="Name"/>
  <TextArea name="{NEW_DESCRIPTION}" toName="description" editable="true" transcription="true" maxSubmissions="1"
            rows="3" placeholder="Description"/>
  <Header value="Merge into one of the nearest nodes of the same level" size="5"/>
  <Choices name="{MERGE_INTO}" toName="name" value="$merge_options" choice="single"/>
  <Header value="Move under another parent (one level up)" size="5"/>
  <Choices name="{MOVE_TO}" toName="name" value="$move_options" choice="single"/>
  <Header value="Split: one group per line, e.g. 'New name: 1, 4, 7' (member numbers, or exact members)" size="5"/>
  <Header value="Members not listed stay together and keep the current name (or the new one above)." size="6"/>
  <TextArea name="{SPLIT}" toName="members" editable="true" transcription="true" maxSubmissions="1" rows="4"
            placeholder="New name: 1, 4, 7"/>
  <Header value="Decision" size="5"/>
  <Choices name="{DECISION}" toName="name" choice="single-radio" showInline="true">
    <Choice value="{APPROVE}"/>
    <Choice value="{FLAG}"/>
  </Choices>
  <TextArea name="{COMMENT}" toName="name" editable="true" transcription="true" maxSubmissions="1" rows="2"
            placeholder="Comment (required when flagging)"/>
</View>
"""


def textarea_result(from_name: str, to_name: str, text: str) -> dict:
    return {"from_name": from_name, "to_name": to_name, "type": "textarea", "value": {"text": [text]}}


def choices_result(from_name: str, to_name: str, choice: str) -> dict:
    return {"from_name": from_name, "to_name": to_name, "type": "choices", "value": {"choices": [choice]}}


def prediction_result(name: str, description: str) -> list[dict]:
    """The pre-filled answer: the current name and description, decision "approve"."""
    out = [textarea_result(NEW_NAME, "name", name)]
    if description:
        out.append(textarea_result(NEW_DESCRIPTION, "description", description))
    out.append(choices_result(DECISION, "name", APPROVE))
    return out
