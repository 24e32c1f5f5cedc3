#!/usr/bin/env bash
# Keep exactly one open GitHub issue per drift report kind, with the GitHub CLI (`gh`).
#
#   exit code 0 (clean)          -> comment on and close the open issue, if there is one (CLOSE_WHEN_CLEAN)
#   exit code 1 (drift) or 2     -> comment on the open issue, or open one with the labels
#   (could not probe)
#
# The open issue is found by its labels AND a hidden marker line in its body (<!-- drift-report: KIND -->),
# so several drift workflows can share the labels without commenting on each other's issues.
#
# Environment: EXIT_CODE, BODY_FILE, MARKER, TITLE, LABELS (comma-separated), CLOSE_WHEN_CLEAN (true|false),
# RUN_URL (optional), GH_TOKEN (for gh), GITHUB_OUTPUT (optional: issue-number and action are written there).
set -euo pipefail

: "${EXIT_CODE:?}" "${BODY_FILE:?}" "${MARKER:?}" "${TITLE:?}" "${LABELS:?}"
CLOSE_WHEN_CLEAN="${CLOSE_WHEN_CLEAN:-true}"
RUN_URL="${RUN_URL:-}"

marker_line="<!-- drift-report: ${MARKER} -->"
IFS=',' read -r -a labels <<<"$LABELS"
label_args=()
for label in "${labels[@]}"; do
  label="$(echo "$label" | xargs)"
  [ -n "$label" ] && label_args+=(--label "$label")
done

output() {
  if [ -n "${GITHUB_OUTPUT:-}" ]; then
    printf '%s=%s\n' "$1" "$2" >>"$GITHUB_OUTPUT"
  fi
  printf '%s: %s\n' "$1" "$2"
}

existing="$(gh issue list --state open "${label_args[@]}" --limit 100 --json number,body \
  --jq "map(select(.body | contains(\"${marker_line}\"))) | sort_by(.number) | .[0].number // empty")"

body="$(mktemp)"
trap 'rm -f "$body"' EXIT

case "$EXIT_CODE" in
  0)
    if [ -z "$existing" ]; then
      output action none
      exit 0
    fi
    {
      echo "Clean again: every check passed.${RUN_URL:+ Run: ${RUN_URL}}"
    } >"$body"
    gh issue comment "$existing" --body-file "$body"
    if [ "$CLOSE_WHEN_CLEAN" = "true" ]; then
      gh issue close "$existing" --reason completed
      output action closed
    else
      output action commented
    fi
    output issue-number "$existing"
    ;;
  1 | 2)
    if [ -n "$existing" ]; then
      cat "$BODY_FILE" >"$body"
      gh issue comment "$existing" --body-file "$body"
      output action commented
      output issue-number "$existing"
    else
      for label in "${labels[@]}"; do
        label="$(echo "$label" | xargs)"
        [ -n "$label" ] || continue
        # create the label if the repository does not have it yet (an existing one is left alone)
        gh label create "$label" --color d93f0b --description "opened by a drift workflow" >/dev/null 2>&1 || true
      done
      {
        echo "$marker_line"
        echo "This issue is kept up to date by the drift workflow: each failing run comments here, and the first"
        echo "clean run closes it. Exit code 1 means drift, 2 means a probe could not answer (see the report)."
        echo
        cat "$BODY_FILE"
      } >"$body"
      url="$(gh issue create --title "$TITLE" --body-file "$body" "${label_args[@]}")"
      output action created
      output issue-number "${url##*/}"
    fi
    ;;
  *)
    echo "report-issue: unexpected exit code ${EXIT_CODE} (want 0, 1 or 2)" >&2
    exit 64
    ;;
esac
