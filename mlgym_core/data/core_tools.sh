# mlgym core commands, present in every sandbox. Sourced into the persistent shell.

# @yaml
# signature: validate
# docstring: validates your current submission file and returns the metrics on the test set
validate() {
    echo "<<VALIDATION||"
    echo "||VALIDATION>>"
}

# @yaml
# signature: submit
# docstring: submits your current code and terminates the session
submit() {
    echo "<<SUBMISSION||"
    echo "||SUBMISSION>>"
}

# MLGym's container sources these aliases (its docker/aliases.sh) with expand_aliases on, so
# `ls` marks folders with / and executables with * (e.g. `evaluate.py*`) in every listing.
shopt -s expand_aliases
alias ll='ls -alF'
alias la='ls -A'
alias l='ls -CF'
alias ls='ls -F'
