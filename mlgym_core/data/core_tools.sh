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
