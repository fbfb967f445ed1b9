# mlgym-tools: search_dir, search_file, find_file. Sourced into the agent's persistent shell.
# Uses only bash, find, grep, sort, uniq, awk, sed and realpath.

# @yaml
# signature: search_dir <search_term> [<dir>]
# docstring: searches for search_term in all files in dir. If dir is not provided, searches in the current directory
# arguments:
#   search_term:
#     type: string
#     description: the term to search for
#     required: true
#   dir:
#     type: string
#     description: the directory to search in (if not provided, searches in the current directory)
#     required: false
search_dir() {
    local search_term dir
    if [ $# -eq 1 ]; then
        search_term="$1"; dir="./"
    elif [ $# -eq 2 ]; then
        search_term="$1"
        if [ -d "$2" ]; then dir="$2"; else echo "Directory $2 not found"; return; fi
    else
        echo "Usage: search_dir <search_term> [<dir>]"
        return
    fi
    dir=$(realpath "$dir")
    local matches
    matches=$(find "$dir" -type f ! -path '*/.*' -exec grep -nIH -- "$search_term" {} + 2>/dev/null \
              | cut -d: -f1 | sort | uniq -c)
    if [ -z "$matches" ]; then
        echo "No matches found for \"$search_term\" in $dir"
        return
    fi
    local num_matches num_files
    num_matches=$(awk '{s += $1} END {print s}' <<< "$matches")
    num_files=$(wc -l <<< "$matches" | tr -d ' ')
    if [ "$num_files" -gt 100 ]; then
        echo "More than $num_files files matched for \"$search_term\" in $dir. Please narrow your search."
        return
    fi
    echo "Found $num_matches matches for \"$search_term\" in $dir:"
    awk '{n = $1; sub(/^[ \t]*[0-9]+ /, ""); sub(/^\.+\/+/, "./"); print $0 " (" n " matches)"}' <<< "$matches"
    echo "End of matches for \"$search_term\" in $dir"
}

# @yaml
# signature: search_file <search_term> [<file>]
# docstring: searches for search_term in file. If file is not provided, searches in the current open file
# arguments:
#   search_term:
#     type: string
#     description: the term to search for
#     required: true
#   file:
#     type: string
#     description: the file to search in (if not provided, searches in the current open file)
#     required: false
search_file() {
    if [ -z "$1" ]; then
        echo "Usage: search_file <search_term> [<file>]"
        return
    fi
    local file
    if [ -n "$2" ]; then
        if [ -f "$2" ]; then
            file="$2"
        else
            echo "Usage: search_file <search_term> [<file>]"
            echo "Error: File name $2 not found. Please provide a valid file name."
            return
        fi
    else
        if [ -z "$CURRENT_FILE" ]; then
            echo "No file open. Use the open command first."
            return
        fi
        file="$CURRENT_FILE"
    fi
    local search_term="$1"
    file=$(realpath "$file")
    local matches
    matches=$(grep -n -- "$search_term" "$file" 2>/dev/null)
    if [ -z "$matches" ]; then
        echo "No matches found for \"$search_term\" in $file"
        return
    fi
    local num_matches
    num_matches=$(wc -l <<< "$matches" | tr -d ' ')
    # No "narrow your search" limit here: MLGym's check counts file names, not lines, so it never
    # fires and every match is printed; we print them all too.
    echo "Found $num_matches matches for \"$search_term\" in $file:"
    awk '{i = index($0, ":"); print "Line " substr($0, 1, i - 1) ":" substr($0, i + 1)}' <<< "$matches"
    echo "End of matches for \"$search_term\" in $file"
}

# @yaml
# signature: find_file <file_name> [<dir>]
# docstring: finds all files with the given name in dir. If dir is not provided, searches in the current directory
# arguments:
#   file_name:
#     type: string
#     description: the name of the file to search for
#     required: true
#   dir:
#     type: string
#     description: the directory to search in (if not provided, searches in the current directory)
#     required: false
find_file() {
    local file_name dir
    if [ $# -eq 1 ]; then
        file_name="$1"; dir="./"
    elif [ $# -eq 2 ]; then
        file_name="$1"
        if [ -d "$2" ]; then dir="$2"; else echo "Directory $2 not found"; return; fi
    else
        echo "Usage: find_file <file_name> [<dir>]"
        return
    fi
    dir=$(realpath "$dir")
    local matches
    matches=$(find "$dir" -type f -name "$file_name" 2>/dev/null)
    if [ -z "$matches" ]; then
        echo "No matches found for \"$file_name\" in $dir"
        return
    fi
    local num_matches
    num_matches=$(wc -l <<< "$matches" | tr -d ' ')
    echo "Found $num_matches matches for \"$file_name\" in $dir:"
    printf '%s\n' "$matches"
}
