# mlgym-tools: the windowed file viewer (open, goto, scroll_down, scroll_up, create) and `state`.
# Sourced into the agent's persistent shell. The viewer state lives in shell variables; the window
# arithmetic and printing are done by the stdlib-only helper _aci.py next to this file.

_MLGYM_TOOLS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
_MLGYM_PY="$(command -v python3 || command -v python)"
export WINDOW="${WINDOW:-1000}"
export OVERLAP="${OVERLAP:-2}"
export CURRENT_LINE="${CURRENT_LINE:-0}"
export CURRENT_FILE="${CURRENT_FILE:-}"
export SEARCH_RESULTS=()
export SEARCH_FILES=()
export SEARCH_INDEX=0

# Run the helper; its first output line is the new CURRENT_LINE, the rest is printed.
_mlgym_aci() {
    local out
    out="$("$_MLGYM_PY" "$_MLGYM_TOOLS/_aci.py" "$@")"
    local rc=$?
    local first="${out%%$'\n'*}"
    if [[ $first =~ ^-?[0-9]+$ ]]; then
        export CURRENT_LINE="$first"
        [[ "$out" == *$'\n'* ]] && printf '%s\n' "${out#*$'\n'}"
    else
        printf '%s\n' "$out"
    fi
    return $rc
}

# Clamp CURRENT_LINE and print the window around it.
_print_window() {
    _mlgym_aci view "$CURRENT_FILE" "$CURRENT_LINE" "$WINDOW"
}

# An image by content, as MLGym tests it (`file --mime-type` says image/*); without `file`, the
# helper checks the same signatures.
_mlgym_is_image() {
    if command -v file >/dev/null 2>&1; then
        file -b --mime-type "$1" 2>/dev/null | grep -q image
    else
        "$_MLGYM_PY" "$_MLGYM_TOOLS/_aci.py" is_image "$1"
    fi
}

_mlgym_no_file() {
    if [ -z "$CURRENT_FILE" ]; then
        echo "No file open. Use the open command first."
        return 0
    fi
    return 1
}

# @yaml
# signature: open "<path>" [<line_number>]
# docstring: opens the file at the given path in the editor. If line_number is provided, the window will be move to include that line
# arguments:
#   path:
#     type: string
#     description: the path to the file to open
#     required: true
#   line_number:
#     type: integer
#     description: the line number to move the window to (if not provided, the window will start at the top of the file)
#     required: false
open() {
    if [ -z "$1" ]; then
        echo "Usage: open \"<file>\""
        return
    fi
    if [ -d "$1" ]; then
        echo "Error: $1 is a directory. You can only open files. Use cd or ls to navigate directories."
        return
    elif [ ! -f "$1" ]; then
        echo "File $1 not found"
        return
    fi
    if _mlgym_is_image "$1"; then
        echo "Error: $1 is an image file. Current environment does not support image viewing."
        return
    fi
    local line_number
    if [ -n "$2" ]; then
        if ! [[ $2 =~ ^[0-9]+$ ]]; then
            echo "Usage: open \"<file>\" [<line_number>]"
            echo "Error: <line_number> must be a number"
            return
        fi
        if [ "$(wc -c < "$1")" -gt 20000 ]; then
            echo "The file is larger than 20000 characters, please use 'head -n NUM_LINES' to open it"
            return
        fi
        local max_line
        max_line=$(awk 'END {print NR}' "$1")
        if [ "$2" -gt "$max_line" ]; then
            echo "Warning: <line_number> ($2) is greater than the number of lines in the file ($max_line)"
            echo "Warning: Setting <line_number> to $max_line"
            line_number=$max_line
        elif [ "$2" -lt 1 ]; then
            echo "Warning: <line_number> ($2) is less than 1"
            echo "Warning: Setting <line_number> to 1"
            line_number=1
        else
            line_number=$(( $2 + WINDOW / 2 - WINDOW / 6 ))
            [ "$line_number" -lt 1 ] && line_number=1
        fi
    else
        line_number=$(( WINDOW / 2 ))
    fi
    export CURRENT_FILE="$(realpath "$1")"
    export CURRENT_LINE=$line_number
    _print_window
}

# @yaml
# signature: goto <line_number>
# docstring: moves the window to show <line_number>
# arguments:
#   line_number:
#     type: integer
#     description: the line number to move the window to
#     required: true
goto() {
    if [ $# -gt 1 ]; then
        echo "goto allows only one line number at a time."
        return
    fi
    _mlgym_no_file && return
    if [ -z "$1" ]; then
        echo "Usage: goto <line>"
        return
    fi
    if ! [[ $1 =~ ^[0-9]+$ ]]; then
        echo "Usage: goto <line>"
        echo "Error: <line> must be a number"
        return
    fi
    local max_line
    max_line=$(awk 'END {print NR}' "$CURRENT_FILE")
    if [ "$1" -gt "$max_line" ]; then
        echo "Error: <line> must be less than or equal to $max_line"
        return
    fi
    local line_number=$(( $1 + WINDOW / 2 - WINDOW / 6 ))
    [ "$line_number" -lt 1 ] && line_number=1
    export CURRENT_LINE=$line_number
    _print_window
}

# Warn after WARN_AFTER_SCROLLING_TIMES (default 3) scrolls in a row. "In a row" needs LAST_ACTION,
# the previous action, which MLGym's environment exports after each step; without it no warning.
_scroll_warning_message() {
    export SCROLL_COUNT=${SCROLL_COUNT:-0}
    if [ "$LAST_ACTION" != "scroll_up" ] && [ "$LAST_ACTION" != "scroll_down" ]; then
        export SCROLL_COUNT=0
    fi
    export SCROLL_COUNT=$((SCROLL_COUNT + 1))
    if [ $SCROLL_COUNT -ge ${WARN_AFTER_SCROLLING_TIMES:-3} ]; then
        echo ""
        echo "WARNING: Scrolling many times in a row is very inefficient."
        echo "If you know what you are looking for, use \`search_file <pattern>\` instead."
        echo ""
    fi
}

# @yaml
# signature: scroll_down
# docstring: moves the window down {WINDOW} lines
scroll_down() {
    _mlgym_no_file && return
    export CURRENT_LINE=$(( CURRENT_LINE + WINDOW - OVERLAP ))
    _print_window
    _scroll_warning_message
}

# @yaml
# signature: scroll_up
# docstring: moves the window up {WINDOW} lines
scroll_up() {
    _mlgym_no_file && return
    export CURRENT_LINE=$(( CURRENT_LINE - WINDOW + OVERLAP ))
    _print_window
    _scroll_warning_message
}

# @yaml
# signature: create <filename>
# docstring: creates and opens a new file with the given name
# arguments:
#   filename:
#     type: string
#     description: the name of the file to create
#     required: true
create() {
    if [ -z "$1" ]; then
        echo "Usage: create <filename>"
        return
    fi
    if [ -e "$1" ]; then
        echo "Error: File '$1' already exists."
        open "$1"
        return
    fi
    if ! { printf "\n" > "$1"; } 2>/dev/null; then
        echo "Error: You cannot create file $1: its folder is read-only or missing"
        return 1
    fi
    open "$1"
}

# @yaml
# signature: state
# docstring: prints the open file and the working directory as JSON (and the memory footer when memory is on)
state() {
    local d
    for d in "${MLGYM_SERVICES_DIR:-}" /home/agent/.mlgym; do
        if [ -n "$d" ] && [ -S "$d/memory.sock" ]; then  # memory on: the footer needs the store
            "$_MLGYM_PY" "$_MLGYM_TOOLS/_aci.py" state "$CURRENT_FILE" "$PWD"
            return
        fi
    done
    # memory off: plain bash, no process started (state runs before every step)
    local f=${CURRENT_FILE:-n/a} a b
    _mlgym_json_str a "$f"
    _mlgym_json_str b "$PWD"
    printf '{"open_file": %s, "working_dir": %s}\n' "$a" "$b"
}

_mlgym_json_str() {  # _mlgym_json_str VAR TEXT: VAR = TEXT as a JSON string
    local s=${2//\\/\\\\}
    s=${s//\"/\\\"}
    s=${s//$'\n'/\\n}
    s=${s//$'\t'/\\t}
    printf -v "$1" '"%s"' "$s"
}
