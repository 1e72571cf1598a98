"""Fresh worlds: a mailbox, a shop, notes and settings drawn from fixed pools by a random source."""

from __future__ import annotations

import random

from mulligan.envs.gui.world import CHOICES, DEFAULT_SETTINGS, RINGTONES, TOGGLES, Mail, Note, Product, World

PEOPLE = ("Alice", "Bob", "Carol", "Dave", "Erin", "Frank", "Grace", "Heidi", "Ivan", "Judy", "Kofi", "Lena",
          "Mateo", "Nadia", "Oscar", "Priya", "Quinn", "Rosa", "Sven", "Tara")
SUBJECTS = ("Lunch on Friday", "Quarterly report", "Team offsite", "Invoice 2231", "Weekend plans",
            "Project update", "Book club", "Flight details", "Dentist appointment", "Garden party",
            "Budget review", "Code review", "Birthday gift", "Rent reminder", "Concert tickets", "Job interview",
            "Parking permit", "Yoga class", "Moving day", "Board meeting", "Lost keys", "Holiday photos")
LINES = ("See you at noon", "Thanks for the update", "The files are attached", "Running ten minutes late",
         "Sounds good to me", "Please call me back", "Count me in", "Let us move it to Tuesday",
         "I will bring snacks", "Happy to help")
BODIES = ("Can we talk about this tomorrow?", "Here are the details we discussed.", "Please confirm by Monday.",
          "Let me know what you think.", "Thanks again for your help.", "The meeting room is booked.")
PRODUCTS = (("Desk lamp", "Home", 2499), ("Coffee mug", "Kitchen", 899), ("Water bottle", "Sports", 1450),
            ("Yoga mat", "Sports", 3299), ("Wireless mouse", "Electronics", 1999), ("USB cable", "Electronics", 699),
            ("Notebook", "Office", 450), ("Backpack", "Travel", 5400), ("Sunglasses", "Travel", 2800),
            ("Tea kettle", "Kitchen", 3650), ("Throw pillow", "Home", 1725), ("Phone case", "Electronics", 1299),
            ("Running shoes", "Sports", 7999), ("Plant pot", "Home", 1150), ("Headphones", "Electronics", 8900),
            ("Cutting board", "Kitchen", 2175), ("Umbrella", "Travel", 1600), ("Pen set", "Office", 975))
ADDRESSES = ("12 Oak Street", "7 Elm Road", "45 Pine Avenue", "3 Birch Lane", "88 Cedar Court", "19 Maple Drive",
             "5 Willow Way", "230 Aspen Place")
NOTES = (("Groceries", "milk, eggs and bread"), ("Packing list", "charger, passport and socks"),
         ("Gift ideas", "a scarf for mum"), ("Meeting notes", "ship the beta on Friday"),
         ("Books to read", "Dune and Emma"), ("Door code", "the code is 4412"),
         ("Workout plan", "run on Monday, swim on Thursday"), ("Travel plans", "train to Lyon at 9"),
         ("Recipes", "lentil soup with lemon"), ("Errands", "return the library books"),
         ("Ideas", "a podcast about maps"), ("Garden", "water the tomatoes"))
NEW_NOTE_TEXT = ("buy stamps", "call the plumber", "pay the phone bill", "book a haircut", "renew the passport",
                 "pick up the dry cleaning", "feed the cat at six", "fix the bike light")
ACCOUNT_NAMES = ("Dana Fox", "Lee Park", "Sam Rivera", "Kim Novak", "Ana Silva", "Tom Berg", "Mia Costa", "Raj Iyer")


def make_world(rng: random.Random) -> World:
    """A random phone: 7-10 mails (some senders twice), 7-10 products, 4-7 notes, random settings."""
    settings = dict(DEFAULT_SETTINGS)
    settings.update({t: rng.random() < 0.5 for t in TOGGLES})
    settings.update({c: rng.choice(options) for c, options in CHOICES.items()})
    settings["Ringtone"] = rng.choice(RINGTONES)
    settings["Account name"] = rng.choice(ACCOUNT_NAMES)
    senders = rng.sample(PEOPLE, 6)
    subjects = rng.sample(SUBJECTS, rng.randint(7, 10))
    mails = [Mail(i + 1, rng.choice(senders), s, rng.choice(BODIES), unread=rng.random() < 0.4,
                  starred=rng.random() < 0.2) for i, s in enumerate(subjects)]
    products = [Product(*p) for p in rng.sample(PRODUCTS, rng.randint(7, 10))]
    drawn = rng.sample(NOTES, rng.randint(4, 7))
    notes = [Note(i + 1, t, b, pinned=rng.random() < 0.25) for i, (t, b) in enumerate(drawn)]
    return World(settings=settings, mails=mails, products=products, notes=notes)
