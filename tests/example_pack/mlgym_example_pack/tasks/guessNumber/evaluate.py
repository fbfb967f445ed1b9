import json
import os

here = os.path.dirname(os.path.abspath(__file__))
secret = float(open(os.path.join(here, "secret.txt")).read())
guess = float(open("answer.txt").read().strip())
print(json.dumps({"closeness": 100 - abs(guess - secret)}))
