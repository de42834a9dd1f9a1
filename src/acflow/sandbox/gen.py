"""Deterministic per-record randomness and the word pools records are drawn from.

Every generated value is a pure function of (seed, entity, record id, salt),
computed with a counter-based hash (splitmix64) over numpy arrays. So a record
renders the same bytes whatever order pages are asked for, a page of 100 rows
costs a few vectorised operations, and a created record gets its values the
same way the seed data did.
"""

from __future__ import annotations

import zlib

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def salt_of(text: str) -> int:
    return zlib.crc32(text.encode())


def _mix(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        x = (x ^ (x >> np.uint64(30))) * _M1
        x = (x ^ (x >> np.uint64(27))) * _M2
        return x ^ (x >> np.uint64(31))


class Rand:
    """Hashes of record ids for one seed and entity: `r.ints(ids, "phone", 100)`."""

    def __init__(self, seed: int, entity: str) -> None:
        self.base = np.uint64((seed * 0x2545F4914F6CDD1D + salt_of(entity)) % 2**64)

    def bits(self, ids: np.ndarray, salt: str, version: np.ndarray | None = None) -> np.ndarray:
        x = np.asarray(ids, dtype=np.uint64)
        with np.errstate(over="ignore"):
            if version is not None:
                x = x * np.uint64(1_000_003) + np.asarray(version, dtype=np.uint64)
            x = x * _GOLDEN + self.base + np.uint64(salt_of(salt)) * _M2
        return _mix(_mix(x))

    def ints(self, ids: np.ndarray, salt: str, high: int, low: int = 0,
             version: np.ndarray | None = None) -> np.ndarray:
        """Integers in [low, high)."""
        span = np.uint64(max(high - low, 1))
        return (self.bits(ids, salt, version) % span).astype(np.int64) + low

    def unit(self, ids: np.ndarray, salt: str, version: np.ndarray | None = None) -> np.ndarray:
        """Floats in [0, 1)."""
        return (self.bits(ids, salt, version) >> np.uint64(11)).astype(np.float64) * 2.0**-53

    def chance(self, ids: np.ndarray, salt: str, p: float) -> np.ndarray:
        return self.unit(ids, salt) < p

    def pick(self, ids: np.ndarray, salt: str, pool: list, version: np.ndarray | None = None) -> list:
        idx = self.ints(ids, salt, len(pool), version=version).tolist()
        return [pool[i] for i in idx]

    def hexes(self, ids: np.ndarray, salt: str, width: int = 32) -> list[str]:
        a = self.bits(ids, salt + "a").tolist()
        if width <= 16:
            return [f"{x:016x}"[:width] for x in a]
        b = self.bits(ids, salt + "b").tolist()
        return [f"{x:016x}{y:016x}"[:width] for x, y in zip(a, b, strict=True)]


FIRST_NAMES = [
    "James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David", "Elizabeth",
    "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah", "Carlos", "Karen",
    "Daniel", "Lisa", "Matthew", "Nancy", "Anthony", "Betty", "Mark", "Sandra", "Donald", "Ashley", "Steven",
    "Kimberly", "Paul", "Emily", "Andrew", "Donna", "Joshua", "Michelle", "Kenneth", "Carol", "Kevin",
    "Amanda", "Brian", "Melissa", "George", "Deborah", "Timothy", "Stephanie", "Ronald", "Rebecca", "Jason",
    "Sharon", "Edward", "Laura", "Jeffrey", "Cynthia", "Ryan", "Amy", "Jacob", "Kathleen", "Gary", "Angela",
    "Nicholas", "Shirley", "Eric", "Anna", "Jonathan", "Brenda", "Stephen", "Pamela", "Larry", "Emma",
    "Justin", "Nicole", "Scott", "Helen", "Brandon", "Samantha", "Benjamin", "Katherine", "Samuel",
    "Christine", "Gregory", "Debra", "Alexander", "Rachel", "Patrick", "Carolyn", "Frank", "Janet", "Raymond",
    "Maria", "Jack", "Olivia", "Dennis", "Heather", "Jerry", "Diane", "Tyler", "Julie", "Aaron", "Joyce",
    "Jose", "Victoria", "Adam", "Kelly", "Nathan", "Christina", "Henry", "Lauren", "Zachary", "Joan",
    "Douglas", "Evelyn", "Peter", "Judith", "Kyle", "Megan", "Noah", "Andrea", "Ethan", "Cheryl", "Jeremy",
    "Hannah", "Walter", "Jacqueline", "Christian", "Martha", "Keith", "Gloria", "Roger", "Teresa", "Terry",
    "Ann", "Sean", "Sophia", "Gerald", "Madison", "Harold", "Frances", "Austin", "Kathryn", "Arthur",
    "Janice", "Lawrence", "Jean", "Jesse", "Abigail", "Dylan", "Alice", "Bryan", "Judy", "Joe", "Sophie",
    "Jordan", "Grace", "Billy", "Denise", "Bruce", "Amber", "Albert", "Doris", "Willie", "Marilyn", "Gabriel",
    "Danielle", "Logan", "Beverly", "Alan", "Isabella", "Juan", "Theresa", "Wayne", "Diana", "Elijah",
    "Natalie", "Randy", "Brittany", "Roy", "Charlotte", "Vincent", "Marie", "Ralph", "Kayla", "Eugene",
    "Alexis", "Russell", "Lori", "Bobby", "Mikael", "Anmol", "Zoë", "José", "François", "Søren", "Ngozi",
    "Wei", "Aiko", "Priya", "Mateo", "Björn", "Łukasz",
]
LAST_NAMES = [
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez",
    "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin",
    "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez", "Clark", "Ramirez", "Lewis", "Robinson",
    "Walker", "Young", "Allen", "King", "Wright", "Scott", "Torres", "Nguyen", "Hill", "Flores", "Green",
    "Adams", "Nelson", "Baker", "Hall", "Rivera", "Campbell", "Mitchell", "Carter", "Roberts", "Gomez",
    "Phillips", "Evans", "Turner", "Diaz", "Parker", "Cruz", "Edwards", "Collins", "Reyes", "Stewart",
    "Morris", "Morales", "Murphy", "Cook", "Rogers", "Gutierrez", "Ortiz", "Morgan", "Cooper", "Peterson",
    "Bailey", "Reed", "Kelly", "Howard", "Ramos", "Kim", "Cox", "Ward", "Richardson", "Watson", "Brooks",
    "Chavez", "Wood", "James", "Bennett", "Gray", "Mendoza", "Ruiz", "Hughes", "Price", "Alvarez", "Castillo",
    "Sanders", "Patel", "Myers", "Long", "Ross", "Foster", "Jimenez", "Henriksson", "Yousaf", "O'Brien",
    "Müller", "Østergaard", "Dubois", "Nakamura", "Kowalski", "Schröder", "García-López", "D'Angelo",
]
DOMAINS = [
    "gmail.com", "yahoo.com", "hotmail.com", "outlook.com", "icloud.com", "aol.com", "proton.me",
    "example.com", "example.org", "acme.io", "globex.com", "initech.net", "umbrella.co", "hooli.xyz",
    "stark.industries", "wayne-enterprises.com", "gmx.de", "web.de", "orange.fr", "libero.it",
]
COMPANY_WORDS = [
    "Acme", "Globex", "Initech", "Umbrella", "Hooli", "Stark", "Wayne", "Wonka", "Cyberdyne", "Soylent",
    "Tyrell", "Vandelay", "Massive", "Dynamic", "Pied", "Piper", "Aperture", "Black", "Mesa", "Oceanic",
    "Dunder", "Mifflin", "Gringotts", "Monarch", "Sterling", "Cooper", "Bluth", "Prestige", "Worldwide",
    "Vehement", "Capital", "Nakatomi",
]
COMPANY_SUFFIXES = ["Inc", "LLC", "Ltd", "GmbH", "Group", "Co", "Partners", "Labs", "& Sons", "S.A."]
ADJECTIVES = [
    "Able", "Brave", "Calm", "Eager", "Fancy", "Gentle", "Happy", "Jolly", "Kind", "Lively", "Nice", "Proud",
    "Silly", "Witty", "Bold", "Quick", "Quiet", "Rapid", "Royal", "Swift", "Vivid", "Wise", "Zesty", "Lucky",
    "Mighty", "Noble", "Sunny", "Golden", "Silver", "Crimson",
]
ANIMALS = [
    "Hyena", "Falcon", "Otter", "Badger", "Lynx", "Heron", "Panda", "Koala", "Walrus", "Bison", "Gecko",
    "Ibis", "Jaguar", "Lemur", "Moose", "Narwhal", "Ocelot", "Puffin", "Quail", "Raven", "Seal", "Tapir",
    "Urchin", "Viper", "Wombat", "Yak", "Zebra", "Marten", "Orca", "Crane",
]
TOPICS = [
    "Newsletter", "Webinar", "Product Launch", "Spring Sale", "Black Friday", "Onboarding", "Renewal",
    "Reminder", "Survey", "Case Study", "Holiday Greetings", "Feature Update", "Event Invite",
    "Re-engagement", "Welcome Series",
]
COLORS = ["19CCA3", "5884EA", "FBD965", "E6CE4B", "32B0FC", "18D499", "C481DF", "00ECC5", "696969", "FF6B6B"]
STAGE_TITLES = ["To Contact", "In Contact", "Follow Up", "Qualified", "Proposal", "Negotiation", "Closing"]
CURRENCIES = ["usd", "eur", "jpy", "kwd"]


def phones(r: Rand, ids: np.ndarray) -> list[str]:
    """Real phone fields are free text: several formats, often empty."""
    kind = r.ints(ids, "phone-kind", 10).tolist()
    num = r.ints(ids, "phone-num", 10_000_000, 1_000_000).tolist()
    area = r.ints(ids, "phone-area", 900, 200).tolist()
    out = []
    for k, n, a in zip(kind, num, area, strict=True):
        if k < 4:
            out.append("")
        elif k < 6:
            out.append(f"+1{a}{n}")
        elif k < 8:
            out.append(f"{a}-{n // 10_000:03d}-{n % 10_000:04d}")
        elif k < 9:
            out.append(f"({a}) {n // 10_000:03d}-{n % 10_000:04d}")
        else:
            out.append(f"+44 20 {n // 10_000:04d} {n % 10_000:04d}")
    return out


def company_names(r: Rand, ids: np.ndarray, salt: str = "company") -> list[str]:
    words = r.pick(ids, salt + "-w", COMPANY_WORDS)
    suffix = r.pick(ids, salt + "-s", COMPANY_SUFFIXES)
    return [f"{w} {s}" for w, s in zip(words, suffix, strict=True)]


def slug(text: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in text.lower()).strip("-")
