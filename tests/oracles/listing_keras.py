#!/usr/bin/env python3
"""listing_keras.py: what keras_preprocessing 1.1.0's flow_from_directory lists, for
tests/test_data.c.

Builds a small folder tree full of traps (mixed-case extensions, names that sort differently
by bytes than by eye, nested subfolders whose sorted root paths interleave, a hidden folder, an
empty class, a symbolic link to a class, a symbolic link to a subfolder inside a class, files
that are not images), runs Keras's DirectoryIterator on it and records the classes and the file
list in order, and the subsets validation_split=0.3 gives. The tree is described in the
fixture itself, so the C test builds the same tree.

Keras 1.1.0 accepts png, jpg, jpeg, bmp, ppm, tif, tiff; the project follows the issue's list,
jpg, jpeg, png, bmp, gif, so the oracle runs Keras with DirectoryIterator.white_list_formats set
to that list: everything else (walk, sort, split) is Keras's own code. Keras matches the
extension without its dot (fname.lower().endswith('jpg')), so a file named 'jpg' counts; so it
does here, and the tree has one.

Writes tests/fixtures/data_listing.txt, tab-separated:
  dir REL | file REL | link REL TARGET     the tree (TARGET relative to the link's folder)
  class NAME                               classes in order
  all|val|train LABEL REL                  flow_from_directory's files in order (subset
                                           None, 'validation', 'training' with split 0.3)
Run: /usr/bin/python3 tests/oracles/listing_keras.py
"""
import os
import tempfile

from keras_preprocessing.image import DirectoryIterator, ImageDataGenerator

HERE = os.path.dirname(os.path.abspath(__file__))
FIX = os.path.join(HERE, "..", "fixtures")

TREE = [
    ("dir", "cats"), ("dir", "dogs"), ("dir", ".hidden"), ("dir", "empty_class"),
    ("file", "loose.jpg"), ("file", "notes.txt"),
    ("file", "cats/cat.1.jpg"), ("file", "cats/cat.10.jpg"), ("file", "cats/cat.9.jpg"),
    ("file", "cats/cat.2.JPG"), ("file", "cats/Z.jpeg"), ("file", "cats/a.Png"),
    ("file", "cats/b.gif"), ("file", "cats/c.bmp"), ("file", "cats/d.ppm"),
    ("file", "cats/e.tif"), ("file", "cats/f.txt"), ("file", "cats/noext"),
    ("file", "cats/chat_\u00e9.jpg"), ("file", "cats/chat_z.jpg"), ("file", "cats/.dot.jpg"),
    ("file", "cats/jpg"), ("file", "cats/x.jpg.txt"),
    ("dir", "cats/sub"), ("file", "cats/sub/s.jpg"), ("dir", "cats/sub/deeper"),
    ("file", "cats/sub/deeper/t.png"), ("dir", "cats/sub 2"), ("file", "cats/sub 2/v.jpg"),
    ("dir", "cats/sub-a"), ("file", "cats/sub-a/w.jpg"), ("dir", "cats/sub2"),
    ("file", "cats/sub2/u.jpg"), ("dir", "cats/dir.jpg"), ("file", "cats/dir.jpg/in.jpg"),
    ("file", "dogs/dog.1.jpg"), ("file", "dogs/dog.11.jpg"), ("file", "dogs/dog.3.jpeg"),
    ("file", "dogs/Dog.4.jpg"), ("file", "dogs/dog.5.bmp"), ("file", "dogs/dog.6.png"),
    ("dir", "dogs/puppies"), ("file", "dogs/puppies/p.jpg"),
    ("link", "cats/link_sub", "../dogs/puppies"), ("link", "cats/link_file.jpg", "cat.1.jpg"),
    ("link", "felines", "cats"),
    ("file", ".hidden/h.jpg"),
]


def main():
    lines = ["# tests/oracles/listing_keras.py: flow_from_directory listings (keras_preprocessing"
             " 1.1.0, white_list_formats = jpg jpeg png bmp gif)"]
    with tempfile.TemporaryDirectory() as tmp:
        for entry in TREE:
            kind, rel = entry[0], entry[1]
            p = os.path.join(tmp, rel)
            if kind == "dir":
                os.makedirs(p, exist_ok=True)
            elif kind == "file":
                with open(p, "wb") as f:
                    f.write(b"x")
            else:
                os.symlink(entry[2], p)
            lines.append("\t".join(entry))
        DirectoryIterator.white_list_formats = ("png", "jpg", "jpeg", "bmp", "gif")
        it = ImageDataGenerator().flow_from_directory(tmp, class_mode="sparse", shuffle=False)
        names = sorted(it.class_indices, key=it.class_indices.get)
        lines += ["class\t" + c for c in names]
        lines += ["all\t%d\t%s" % (c, f) for c, f in zip(it.classes, it.filenames)]
        gen = ImageDataGenerator(validation_split=0.3)
        for subset, tag in (("validation", "val"), ("training", "train")):
            it = gen.flow_from_directory(tmp, class_mode="sparse", shuffle=False, subset=subset)
            lines += ["%s\t%d\t%s" % (tag, c, f) for c, f in zip(it.classes, it.filenames)]
    with open(os.path.join(FIX, "data_listing.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
