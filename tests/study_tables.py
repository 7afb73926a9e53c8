"""Reference numbers printed in the studies, shared by the tests that check against them."""

# Table 1 of the D-GEX tower study, 942 -> 4,759:
# towers -> (neurons per tower, neurons, parameters).
TABLE_1 = {
    1: (10000, 34759, 257149036),
    2: (7227, 48121, 257119561),
    3: (5941, 58228, 257068283),
    4: (5157, 66643, 256997503),
    5: (4615, 73984, 256977621),
    6: (4211, 80557, 256953201),
    8: (3637, 92047, 256729407),
    10: (3242, 102019, 256587674),
    12: (2948, 110887, 256374168),
}
