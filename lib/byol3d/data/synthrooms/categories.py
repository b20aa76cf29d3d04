"""ScanNet raw categories used by SynthRooms and their rows in `scannetv2-labels.combined.tsv`.

Names and nyu40 ids follow ScanNet v2's label table (Dai et al., CVPR 2017): raw categories such as
"office chair" or "kitchen counter" map to nyu40 classes; several used here (pillow, lamp, monitor,
nightstand, dresser, ...) fall outside the 20 benchmark classes and so become ignore (-1), as in
real scans.
"""

from __future__ import annotations

from byol3d.data.labels import IGNORE_INDEX, nyu40_to_scannet20_table

TSV_COLUMNS = ("id", "raw_category", "category", "count", "nyu40id", "eigen13id", "nyuClass", "nyu40class",
               "eigen13class", "ModelNet40", "ModelNet10", "ShapeNetCore55", "synsetoffset", "wnsynsetid",
               "wnsynsetkey", "mpcat40", "mpcat40index")

# raw_category: (category, nyu40id, eigen13id, nyuClass, nyu40class, eigen13class, mpcat40, mpcat40index)
CATEGORIES: dict[str, tuple[str, int, int, str, str, str, str, int]] = {
    "wall": ("wall", 1, 12, "wall", "wall", "Wall", "wall", 1),
    "floor": ("floor", 2, 5, "floor", "floor", "Floor", "floor", 2),
    "ceiling": ("ceiling", 22, 3, "ceiling", "ceiling", "Ceiling", "ceiling", 17),
    "chair": ("chair", 5, 4, "chair", "chair", "Chair", "chair", 3),
    "office chair": ("office chair", 5, 4, "chair", "chair", "Chair", "chair", 3),
    "armchair": ("armchair", 5, 4, "chair", "chair", "Chair", "chair", 3),
    "table": ("table", 7, 10, "table", "table", "Table", "table", 5),
    "dining table": ("dining table", 7, 10, "table", "table", "Table", "table", 5),
    "coffee table": ("coffee table", 7, 10, "table", "table", "Table", "table", 5),
    "desk": ("desk", 14, 10, "desk", "desk", "Table", "table", 5),
    "door": ("door", 8, 12, "door", "door", "Wall", "door", 4),
    "window": ("window", 9, 13, "window", "window", "Window", "window", 9),
    "couch": ("couch", 6, 9, "sofa", "sofa", "Sofa", "sofa", 10),
    "sofa": ("sofa", 6, 9, "sofa", "sofa", "Sofa", "sofa", 10),
    "bed": ("bed", 4, 1, "bed", "bed", "Bed", "bed", 11),
    "cabinet": ("cabinet", 3, 6, "cabinet", "cabinet", "Furniture", "cabinet", 7),
    "kitchen cabinet": ("kitchen cabinet", 3, 6, "cabinet", "cabinet", "Furniture", "cabinet", 7),
    "file cabinet": ("file cabinet", 3, 6, "cabinet", "cabinet", "Furniture", "cabinet", 7),
    "bathroom cabinet": ("cabinet", 3, 6, "cabinet", "cabinet", "Furniture", "cabinet", 7),
    "wardrobe cabinet": ("wardrobe", 39, 6, "wardrobe", "otherfurniture", "Furniture", "furniture", 36),
    "bookshelf": ("bookshelf", 10, 6, "bookshelf", "bookshelf", "Furniture", "shelving", 31),
    "picture": ("picture", 11, 8, "picture", "picture", "Picture", "picture", 6),
    "kitchen counter": ("counter", 12, 6, "counter", "counter", "Furniture", "counter", 26),
    "bathroom counter": ("counter", 12, 6, "counter", "counter", "Furniture", "counter", 26),
    "curtain": ("curtain", 16, 13, "curtain", "curtain", "Window", "curtain", 12),
    "refrigerator": ("refrigerator", 24, 6, "refridgerator", "refridgerator", "Furniture", "appliances", 37),
    "mini fridge": ("refrigerator", 24, 6, "refridgerator", "refridgerator", "Furniture", "appliances", 37),
    "shower curtain": ("shower curtain", 28, 7, "shower curtain", "shower curtain", "Objects", "curtain", 12),
    "toilet": ("toilet", 33, 7, "toilet", "toilet", "Objects", "toilet", 18),
    "sink": ("sink", 34, 7, "sink", "sink", "Objects", "sink", 15),
    "bathtub": ("bathtub", 36, 7, "bathtub", "bathtub", "Objects", "bathtub", 25),
    "trash can": ("trash can", 39, 6, "garbage bin", "otherfurniture", "Furniture", "objects", 39),
    "tv stand": ("tv stand", 39, 6, "tv stand", "otherfurniture", "Furniture", "furniture", 36),
    "ottoman": ("ottoman", 39, 6, "ottoman", "otherfurniture", "Furniture", "stool", 19),
    "bench": ("bench", 39, 6, "bench", "otherfurniture", "Furniture", "seating", 34),
    "nightstand": ("nightstand", 32, 6, "night stand", "night stand", "Furniture", "chest_of_drawers", 13),
    "dresser": ("dresser", 17, 6, "dresser", "dresser", "Furniture", "chest_of_drawers", 13),
    "pillow": ("pillow", 18, 7, "pillow", "pillow", "Objects", "cushion", 8),
    "lamp": ("lamp", 35, 7, "lamp", "lamp", "Objects", "lighting", 28),
    "box": ("box", 29, 7, "box", "box", "Objects", "objects", 39),
    "monitor": ("monitor", 40, 7, "monitor", "otherprop", "Objects", "tv_monitor", 22),
    "tv": ("tv", 25, 11, "television", "television", "TV", "tv_monitor", 22),
    "whiteboard": ("whiteboard", 30, 7, "whiteboard", "whiteboard", "Objects", "board_panel", 35),
    "mirror": ("mirror", 19, 7, "mirror", "mirror", "Objects", "mirror", 21),
}


def scannet20_of(raw: str) -> int:
    """ScanNet20 index of a raw category (IGNORE_INDEX outside the 20 classes)."""
    if raw not in CATEGORIES:
        return IGNORE_INDEX
    return int(nyu40_to_scannet20_table()[CATEGORIES[raw][1]])


def tsv_text(counts: dict[str, int]) -> str:
    """The label table in ScanNet's column layout; `count` is the number of generated instances."""
    lines = ["\t".join(TSV_COLUMNS)]
    for i, (raw, (cat, nyu40, eigen13, nyu_cls, nyu40_cls, eigen13_cls, mpcat, mpidx)) in enumerate(CATEGORIES.items()):
        row = [str(i + 1), raw, cat, str(counts.get(raw, 0)), str(nyu40), str(eigen13), nyu_cls, nyu40_cls,
               eigen13_cls, "", "", "", "", "", "", mpcat, str(mpidx)]
        lines.append("\t".join(row))
    return "\n".join(lines) + "\n"
