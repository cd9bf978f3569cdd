"""Regenerates oslo_cases.json: decisions taken by the real oslo.policy.

Run in a virtualenv with `pip install oslo.policy` (the fixture was made
with oslo.policy 6.0.1):  python gen_oslo_cases.py > oslo_cases.json
Random check strings are built from ATOMS, some deliberately damaged; for
each, the fixture records whether oslo logged a parse problem and its
decision for every (credentials, target) pair. Rules available to `rule:`
references: r_admin = role:admin, default = is_admin:True.
"""
import ast
import json
import logging
import random
import struct

import oslo_config.cfg
from oslo_policy import _checks, _parser, policy

ATOMS = ['role:admin', 'role:Member', 'is_admin:True', 'is_admin:False',
         'project_id:%(project_id)s', "'member':%(role.name)s",
         'True:%(enabled)s', 'user.id:%(uid)s', 'groups.name:g2', '@', '!',
         'roles:admin', 'count:5', 'ratio:5.0', 'nothing:None',
         'rule:r_admin', 'rule:unknown', 'foo', '"q"', '5:%(n)s',
         'role:%(missing)s', 'tenant:%(project_id)s']
CREDS = [
    {"roles": ["Admin", "member"], "is_admin": True, "project_id": "p1",
     "nothing": None, "count": 5, "ratio": 5.0, "user": {"id": "u1"},
     "groups": [{"name": "g1"}, {"name": "g2"}]},
    {"roles": ["member"], "is_admin": False, "project_id": "p2",
     "count": "5", "user": {"id": "u2"}, "groups": []},
    {"roles": [], "is_admin": False, "project_id": None},
]
TARGETS = [
    {"project_id": "p1", "role.name": "member", "enabled": True,
     "uid": "u1", "n": 5},
    {"project_id": "p2", "role.name": "Member", "enabled": False,
     "uid": "u2", "n": "5"},
    {"project_id": None},
]
LITERALS = ["'a'", '"b"', "u'c'", "r'\\d'", "'\\x41\\n'", "0x1f", "0o7",
            "0b11", "1_000", "-3", "+4", "1.", ".5", "1e3", "1E-5",
            "1_0.5e1_0", "True", "None", "'''x'''", "0", "00", "-0", "0.0",
            "1e22", "1e16", "12345678901234567890", "'\\u00e9'", "'\\101'"]

problems = []


class Collect(logging.Handler):
    def emit(self, record):
        problems.append(record.getMessage())


logging.getLogger('oslo_policy').addHandler(Collect())
logging.getLogger('oslo_policy').setLevel(logging.DEBUG)
rng = random.Random(7)


def expression(depth):
    r = rng.random()
    if depth > 2 or r < 0.35:
        return rng.choice(ATOMS)
    if r < 0.5:
        return 'not ' + expression(depth + 1)
    if r < 0.65:
        return '(' + expression(depth + 1) + ')'
    op = rng.choice(['and', 'or', 'AND', 'Or'])
    return expression(depth + 1) + ' ' + op + ' ' + expression(depth + 1)


def damage(text):
    r = rng.random()
    words = text.split(' ')
    if r < 0.08:
        return text + ' and'
    if r < 0.12:
        return '(' + text
    if r < 0.16:
        return text + ')'
    if r < 0.2 and len(words) > 1:
        del words[rng.randrange(len(words))]
        return ' '.join(words)
    return text


def decide(rule):
    conf = oslo_config.cfg.ConfigOpts()
    conf([])
    enforcer = policy.Enforcer(conf, use_conf=False)
    rules = {'t': rule, 'r_admin': 'role:admin', 'default': 'is_admin:True'}
    enforcer.set_rules(policy.Rules.from_dict(rules, 'default'), use_conf=False)
    return [bool(enforcer.enforce('t', t, dict(c)))
            for c in CREDS for t in TARGETS]


cases, seen = [], set()
while len(cases) < 250:
    rule = damage(expression(0))
    if rule in seen:
        continue
    seen.add(rule)
    problems.clear()
    if not isinstance(_parser.parse_rule(rule), _checks.BaseCheck):
        continue
    cases.append({"rule": rule, "errors": bool(problems),
                  "results": decide(rule)})

floats = [rng.uniform(-1, 1) * 10 ** rng.randint(-30, 30) for _ in range(50)]
floats += [0.1, 1e16, 1e15, 1e-4, 1e-5, 0.0, -0.0, 2.5, 1e300, 5e-324]
literals = []
for text in LITERALS:
    try:
        literals.append([text, str(ast.literal_eval(text))])
    except (ValueError, SyntaxError):
        literals.append([text, None])

dump = lambda v: json.dumps(v, separators=(',', ':'))
print('{\n "creds": %s,\n "targets": %s,' % (dump(CREDS), dump(TARGETS)))
for key, rows in [("cases", cases),
                  ("float_bits_repr",
                   [[struct.unpack('<Q', struct.pack('<d', f))[0], repr(f)]
                    for f in floats]),
                  ("literal_str", literals)]:
    print(' "%s": [\n%s\n ]%s' % (key, ',\n'.join('  ' + dump(r) for r in rows),
                                  '' if key == "literal_str" else ','))
print('}')
