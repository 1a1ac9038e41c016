#!/usr/bin/env python3
"""tests/fuzz/make_corpus.py — writes the tiny seed corpora under tests/fuzz/corpus/<parser>/:
a few valid inputs per parser (and a few near misses), built here byte by byte from the formats'
specifications, never copied from data sets. Targets whose first byte selects options get it
prepended (see each fuzz_<parser>.cpp). Audio seeds are made with sox. Re-run after changing a
format; the output is deterministic.  Usage: tests/fuzz/make_corpus.py [OUT_DIR]"""
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import zipfile

out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def put(parser, name, data):
    d = os.path.join(out, parser)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def npy(descr, shape, payload, version=1, fortran=False):
    dims = ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else "")
    header = "{'descr': '%s', 'fortran_order': %s, 'shape': (%s), }" % (descr, fortran, dims)
    lead = 10 if version == 1 else 12
    header += " " * ((64 - (lead + len(header) + 1) % 64) % 64) + "\n"
    size = struct.pack("<H", len(header)) if version == 1 else struct.pack("<I", len(header))
    return b"\x93NUMPY" + bytes([version, 0]) + size + header.encode() + payload


# ---- npy
put("npy", "f4_2x3.npy", npy("<f4", [2, 3], struct.pack("<6f", 0, 1, 2, 3, 4, 5)))
put("npy", "i4_labels.npy", npy("<i4", [4], struct.pack("<4i", 0, 1, 1, 2)))
put("npy", "f8_v2.npy", npy("<f8", [2], struct.pack("<2d", 0.5, -1), version=2))
put("npy", "s3_scalar.npy", npy("|S3", [], b"csr"))
put("npy", "empty.npy", npy("<f4", [0, 3], b""))
# What numpy writes beyond hmr's own outputs: Fortran order (pandas' to_numpy), big-endian,
# float16, bool, unsigned, 3-D.
put("npy", "f8_fortran.npy", npy("<f8", [2, 3], struct.pack("<6d", 0, 3, 1, 4, 2, 5), fortran=True))
put("npy", "f4_big_fortran_3d.npy", npy(">f4", [2, 2, 2], struct.pack(">8f", *range(8)), fortran=True))
put("npy", "f2_2x2.npy", npy("<f2", [2, 2], struct.pack("<4e", 0.5, -1, 65504, 6e-8)))
put("npy", "b1_3.npy", npy("|b1", [3], bytes([0, 1, 1])))
put("npy", "u8_big.npy", npy(">u8", [2, 1], struct.pack(">2Q", 3, 2**63)))
put("npy", "i2_3d.npy", npy("<i2", [1, 2, 2], struct.pack("<4h", -1, 2, -3, 4)))


# ---- npz (scipy.sparse.save_npz layout, stored)
def npz(rows, cols, indptr, indices, data, zip64=False):
    import io
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        members = [("indices.npy", npy("<i4", [len(indices)], struct.pack("<%di" % len(indices), *indices))),
                   ("indptr.npy", npy("<i4", [len(indptr)], struct.pack("<%di" % len(indptr), *indptr))),
                   ("format.npy", npy("|S3", [], b"csr")),
                   ("shape.npy", npy("<i8", [2], struct.pack("<2q", rows, cols))),
                   ("data.npy", npy("<f4", [len(data)], struct.pack("<%df" % len(data), *data)))]
        for name, payload in members:
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            with z.open(info, "w", force_zip64=zip64) as f:
                f.write(payload)
    return buf.getvalue()


put("npz", "csr_2x3.npz", npz(2, 3, [0, 2, 3], [0, 2, 1], [1.0, 2.0, 3.0]))
put("npz", "csr_zip64.npz", npz(1, 2, [0, 1], [1], [0.5], zip64=True))
put("npz", "csr_empty.npz", npz(0, 4, [0], [], []))


# ---- npz as numpy.savez / savez_compressed write it: named and positional members
def npz_arrays(members, method=zipfile.ZIP_STORED):
    import io
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as z:
        for name, payload in members:
            z.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), payload, compress_type=method)
    return buf.getvalue()


xy = [("X.npy", npy("<f8", [2, 2], struct.pack("<4d", 1, 2, 3, 4), fortran=True)),
      ("y.npy", npy("<i8", [2], struct.pack("<2q", 0, 1)))]
put("npz", "savez_named.npz", npz_arrays(xy))
put("npz", "savez_compressed.npz", npz_arrays(xy, zipfile.ZIP_DEFLATED))
put("npz", "savez_positional.npz", npz_arrays([("arr_0.npy", npy("<f2", [3], struct.pack("<3e", 1, 2, 3)))]))

# ---- csv: first byte = options (see fuzz_csv.cpp), 0 = comma, header, defaults
put("csv", "plain.csv", b"\x00" + b"id,lyrics,language\n1,hello world,en\n2,\"quoted, with comma\",en\n")
put("csv", "quotes_crlf.csv", b"\x00" + b"a,b\r\n\"x\"\"y\",\"multi\r\nline\"\r\n3,\r\n")
put("csv", "semicolon_bom.csv", b"\x01" + b"\xef\xbb\xbfa;b\n\xe0\xa6\x86;2\n")
put("csv", "lossy_invalid.csv", b"\x04" + b"a,b\n\xff\xfe,1\n")
put("csv", "strict_stray.csv", b"\x08" + b"a,b\nx\"y,1\n")
put("csv", "ragged.csv", b"\x10" + b"a\n1,2,3\n")
# Numeric CSV as pandas and np.savetxt write it (bit 7: missing values allowed).
put("csv", "pandas_index.csv", b"\x00" + b",a,b\n0,1.5,-2e-3\n1,nan,inf\n")
put("csv", "pandas_default_names.csv", b"\x80" + b",0,1\n0,1,\n1,True,False\n")
put("csv", "savetxt.csv", b"\x00" + b"1.000000000000000000e+00,2.5e+00\n-3,+4\n")

# ---- config: first byte = task (0 easy, 1 medium, 2 hard) + 4 for a --set assignment
put("config", "easy.toml", b"\x00" + b"[experiment]\nseed = 7\nk = 3\n[tfidf]\nmin_df = 0.1\nstop_words = [\"english\"]\n")
put("config", "hard.toml", b"\x02" + b"[vae]\nhidden = [64, 32]\nlatent = 8\nbeta = 4\n")
put("config", "typo.toml", b"\x00" + b"[vae]\nlatnet = 3\n")
put("config", "wrong_type.toml", b"\x01" + b"[experiment]\nseed = \"x\"\n")
put("config", "set_list.txt", b"\x04" + b"vae.hidden=512,256")
put("config", "set_word.txt", b"\x04" + b"tfidf.token_mode=sklearn")


# ---- safetensors: a 2-3-1 VAE as hmr writes it (scaler as JSON metadata: before issue 18, or as
# scaler.* tensors), and as a plain PyTorch state_dict (no metadata; any float dtype, "module." prefix)
DTYPES = {"F32": ("f", 4), "F64": ("d", 8), "F16": ("e", 2)}


def safetensors(input_dim=2, hidden=(3,), latent=1, truncate=0, plain=False, scaler_tensors=False, dtype="F32",
                prefix=""):
    layout = []
    prev = input_dim
    for i, h in enumerate(hidden):
        layout += [("encoder.%d.weight" % (2 * i), [h, prev]), ("encoder.%d.bias" % (2 * i), [h])]
        prev = h
    layout += [("fc_mu.weight", [latent, prev]), ("fc_mu.bias", [latent]),
               ("fc_logvar.weight", [latent, prev]), ("fc_logvar.bias", [latent])]
    dec = [latent] + list(reversed(hidden)) + [input_dim]
    for i in range(len(dec) - 1):
        layout += [("decoder.%d.weight" % (2 * i), [dec[i + 1], dec[i]]), ("decoder.%d.bias" % (2 * i), [dec[i + 1]])]
    if scaler_tensors:
        layout += [("scaler.mean", [input_dim]), ("scaler.scale", [input_dim])]
    header, off, blob = {}, 0, b""
    code, size = DTYPES[dtype]
    for name, shape in layout:
        n = 1
        for s in shape:
            n *= s
        header[prefix + name] = {"dtype": dtype, "shape": shape, "data_offsets": [off, off + size * n]}
        blob += struct.pack("<%d%s" % (n, code), *[0.25 * k + 0.5 for k in range(n)])
        off += size * n
    arch = {"input_dim": input_dim, "hidden": list(hidden), "latent": latent, "activation": "relu",
            "output": "identity"}
    if not plain:
        header["__metadata__"] = {"format": "pt", "hmr.arch": json.dumps(arch), "hmr.loss": "mse", "hmr.beta": "1",
                                  "hmr.free_bits": "0", "hmr.standardized": "true"}
        if not scaler_tensors:
            header["__metadata__"].update({"hmr.scaler_mean": "[0, 1]", "hmr.scaler_scale": "[1, 2]"})
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    data = struct.pack("<Q", len(h)) + h + blob
    return data[:len(data) - truncate]


put("safetensors", "vae_2_3_1.safetensors", safetensors())
put("safetensors", "vae_truncated.safetensors", safetensors(truncate=5))
put("safetensors", "vae_scaler_tensors.safetensors", safetensors(scaler_tensors=True))
put("safetensors", "plain_2_3_1.safetensors", safetensors(plain=True))
put("safetensors", "plain_2_4_3_1_f16_module.safetensors",
    safetensors(hidden=(4, 3), plain=True, scaler_tensors=True, dtype="F16", prefix="module."))
put("safetensors", "plain_2_1_f64.safetensors", safetensors(hidden=(), plain=True, dtype="F64"))

# ---- tfidf_model: tfidf_model.json, a NUL byte, vocabulary.txt (the layout text/tfidf_model.cpp
# reads; options as TfidfVectorizer's)
def tfidf_model(terms, df, n, analyzer=None, **opts):
    o = {"token_mode": "unicode", "lowercase": True, "normalize": "nfc", "stop_lists": ["english"],
         "stop_words": ["la"], "min_graphemes": 2, "min_df": 1, "max_df": 1.0, "max_features": 0, "binary": False,
         "use_idf": True, "smooth_idf": True, "sublinear_tf": False, "norm": "l2"}
    if analyzer:
        o.update(analyzer=analyzer, ngram_range=[1, 3])
    o.update(opts)
    import math
    idf = [math.log((n + 1) / (d + 1)) + 1 for d in df]
    j = {"format": "hmr-tfidf-model-1", "options": o, "n_documents": n, "vocabulary_size": len(terms), "df": df,
         "idf": idf}
    return json.dumps(j, indent=1).encode() + b"\0" + "".join(t + "\n" for t in terms).encode()


put("tfidf_model", "word.model", tfidf_model(["alpha", "beta", "\u0997\u09be\u09a8"], [2, 1, 1], 3))
put("tfidf_model", "char_wb.model", tfidf_model([" a", "ab", "b "], [1, 1, 1], 1, analyzer="char_wb", min_df=0.1))
put("tfidf_model", "sklearn_l1.model", tfidf_model(["x1"], [4], 4, token_mode="sklearn", normalize="none",
                                                    norm="l1", stop_lists=[], max_df=3, max_features=10))

# ---- manifest: first byte = label column option (0 "", 1 "label", 2 "2", 3 "genre")
put("manifest", "labelled.csv", b"\x00" + b"id,audio,label\na,a.wav,rock\nb,sub/b.mp3,jazz\n")
put("manifest", "absolute.csv", b"\x02" + b"id,audio,genre\nx,/abs/x.flac,pop\n")
put("manifest", "unlabelled.csv", b"\x01" + b"name,path\n1,one.wav\n")

# ---- lyrics: first byte = options (1 lossy, 2-6 text column, 8 language given)
put("lyrics", "language_column.csv", b"\x00" + b"lyrics,language\nhello there,en\n\xe0\xa6\x86\xe0\xa6\xae\xe0\xa6\xbf,bn\n , en\n")
put("lyrics", "given_language.csv", b"\x08" + b"title,lyrics\nx,\"[Chorus]\nla la\"\n")
put("lyrics", "by_index.csv", b"\x04" + b"a,b\n1,two\n")

# ---- audio: first byte = extension (0 wav, 1 mp3, 2 flac, 3 au) + 4 to resample; made by sox
if shutil.which("sox"):
    with tempfile.TemporaryDirectory() as tmp:
        for mode, ext, args in [(0, "wav", ["-b", "16"]), (1, "mp3", []), (2, "flac", []), (3, "au", ["-b", "8"]),
                                (4, "wav", ["-b", "16", "-c", "2"])]:
            f = os.path.join(tmp, "s." + ext)
            subprocess.run(["sox", "-q", "-n", "-r", "8000"] + args + [f, "synth", "0.03", "sine", "440"], check=True)
            put("audio", "sine_%d.%s" % (mode, ext), bytes([mode]) + open(f, "rb").read())
else:
    print("make_corpus.py: sox not found, no audio seeds written", file=sys.stderr)
