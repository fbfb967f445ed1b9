# mlgym-tools: `edit` and `insert` on the open file, with flake8 lint-revert for .py files.
# Sourced into the agent's persistent shell after defaults.sh. The environment turns
# `edit a:b` ... `end_of_edit` into a here-document, so the new text arrives on stdin.

# @yaml
# signature: |-
#   edit <start_line>:<end_line>
#   <replacement_text>
#   end_of_edit
# docstring: replaces lines <start_line> through <end_line> (inclusive) with the given text in the open file. The replacement text is terminated by a line with only end_of_edit on it. All of the <replacement text> will be entered, so make sure your indentation is formatted properly. Python files will be checked for syntax errors after the edit. If the system detects a syntax error, the edit will not be executed. Simply try to edit the file again, but make sure to read the error message and modify the edit command you issue accordingly. Issuing the same command a second time will just lead to the same error message again.
# end_name: end_of_edit
# arguments:
#   start_line:
#     type: integer
#     description: the line number to start the edit at
#     required: true
#   end_line:
#     type: integer
#     description: the line number to end the edit at (inclusive)
#     required: true
#   replacement_text:
#     type: string
#     description: the text to replace the current selection with
#     required: true
edit() {
    if [ -z "$CURRENT_FILE" ]; then
        echo 'No file open. Use the `open` command first.'
        return
    fi
    local start_line="${1%%:*}"
    local end_line=""
    [[ "$1" == *:* ]] && end_line="${1#*:}" && end_line="${end_line%%:*}"
    if [ -z "$start_line" ] || [ -z "$end_line" ]; then
        echo "Usage: edit <start_line>:<end_line>"
        return
    fi
    if ! [[ $start_line =~ ^[0-9]+$ ]]; then
        echo "Usage: edit <start_line>:<end_line>"
        echo "Error: start_line must be a number"
        return
    fi
    if ! [[ $end_line =~ ^[0-9]+$ ]]; then
        echo "Usage: edit <start_line>:<end_line>"
        echo "Error: end_line must be a number"
        return
    fi
    _mlgym_aci edit "$CURRENT_FILE" "$start_line" "$end_line" "$CURRENT_LINE" "$WINDOW"
}

# @yaml
# signature: |-
#   insert <line_number>
#   <text_to_add>
#   end_of_insert
# docstring: inserts the given text after the specified line number in the open file. The text to insert is terminated by a line with only end_of_insert on it. All of the <text_to_add> will be entered, so make sure your indentation is formatted properly. Python files will be checked for syntax errors after the insertion. If the system detects a syntax error, the insertion will not be executed. Simply try to insert again, but make sure to read the error message and modify the insert command you issue accordingly.
# end_name: end_of_insert
# arguments:
#   line_number:
#     type: integer
#     description: the line number after which to insert the text
#     required: true
#   text_to_add:
#     type: string
#     description: the text to insert after the specified line
#     required: true
insert() {
    if [ -z "$CURRENT_FILE" ]; then
        echo 'No file open. Use the `open` command first.'
        return
    fi
    local line_number="$1"
    if [ -z "$line_number" ]; then
        echo "Usage: insert <line_number>"
        return
    fi
    if ! [[ $line_number =~ ^[0-9]+$ ]]; then
        echo "Usage: insert <line_number>"
        echo "Error: line_number must be a number"
        return
    fi
    _mlgym_aci insert "$CURRENT_FILE" "$line_number" "$CURRENT_LINE" "$WINDOW"
}
