#!/usr/bin/env bash
# make-sample.sh — hmr's generated sample: a small paired lyrics + audio data set with known
# labels, made deterministically (same bytes on every run) from nothing but the lyric lines in
# data/sample/ (written for hmr), espeak-ng and sox. Nothing is downloaded or copyrighted.
#
#   data/make-sample.sh OUT_DIR [--if-missing] [--songs N]
#
# Each song: 3 lyric lines of one genre's theme + 2 chorus lines of its language, in Bangla (bn)
# or English (en), spoken by
# espeak-ng (voice bn / en) over a backing track whose style encodes the genre:
#   rock        140 bpm, overdriven sawtooth riff, kick/snare/hi-hat in eighths
#   folk         90 bpm, plucked-string arpeggios, no drums
#   electronic  126 bpm, square-wave bass, four-on-the-floor kick, off-beat hi-hats
#   ballad       66 bpm, slow sine pads with tremolo and reverb, no drums
# Tempo and key vary a little per song (from the song's index, not from a clock or RNG).
# Clips: 6 s, 22050 Hz, mono, 16-bit PCM WAV. N songs per genre and language (default 8)
# -> 2 * 4 * N tracks (64).
#
# Output (OUT_DIR):
#   manifest.csv           id,audio,lyrics,language,genre   (Medium; audio relative to OUT_DIR)
#   lyrics_bn.csv          id,title,genre,lyrics            (Easy, Bangla)
#   lyrics_en.csv          id,title,genre,lyrics            (Easy, English)
#   gtzan/<genre>/<id>.wav GTZAN layout (Hard; label = folder)
#   SAMPLE.txt             what this is, and the counts
# The set is built in OUT_DIR.tmp and renamed into place, so OUT_DIR is complete or absent.
set -euo pipefail
export LC_ALL=C.UTF-8

here=$(cd "$(dirname "$0")" && pwd)
out="" if_missing=0 songs=8
while (($#)); do
  case "$1" in
    --if-missing) if_missing=1 ;;
    --songs) songs="$2"; shift ;;
    -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
    -*) echo "make-sample.sh: unknown option $1" >&2; exit 2 ;;
    *) out="$1" ;;
  esac
  shift
done
[ -n "$out" ] || { echo "usage: make-sample.sh OUT_DIR [--if-missing] [--songs N]" >&2; exit 2; }
[[ "$songs" =~ ^[1-8]$ ]] || { echo "make-sample.sh: --songs must be 1..8 (8 lyric lines per genre)" >&2; exit 2; }
for tool in sox espeak-ng flock; do
  command -v "$tool" >/dev/null || { echo "make-sample.sh: $tool not found (scripts/install-deps.sh installs it)" >&2; exit 2; }
done
espeak-ng --voices=bn | grep -q ' bn ' || { echo "make-sample.sh: espeak-ng has no Bangla (bn) voice" >&2; exit 2; }

out=${out%/}
mkdir -p "$(dirname "$out")"
# Concurrent callers (parallel tests) wait for each other instead of racing on the rename.
exec 9>"$out.lock"
flock 9
stamp="$out/SAMPLE.txt"
if [ -f "$stamp" ] && ((if_missing)) && grep -q "^songs_per_genre_language: $songs\$" "$stamp"; then
  exit 0
fi
if [ -e "$out" ] && [ ! -f "$stamp" ]; then
  echo "make-sample.sh: $out exists and is not a generated sample; refusing to replace it" >&2
  exit 2
fi

tmp="$out.tmp"
rm -rf "$tmp"
mkdir -p "$tmp/gtzan" "$tmp/work"

genres=(rock folk electronic ballad)
langs=(bn en)
clip=6
rate=22050

# sox: -R repeatable (fixed seed for the noise generator), -D no dither -> identical bytes.
SOX=(sox -R -D -V1)

# fmt FLOAT -> fixed 4 decimals (bash has no floats).
calc() { awk "BEGIN { printf \"%.4f\", $* }"; }

# backing GENRE VARIANT OUTFILE: one song's backing track (>= clip length), peak -6 dBFS.
backing() {
  local genre=$1 v=$2 dst=$3 w=$4
  local jitter=$(((v * 7) % 9 - 4))        # -4..+4 bpm
  local key=$(((v * 5) % 7 - 3))           # -3..+3 semitones
  local tempo e chain=() drum=() i n
  case $genre in
    rock)
      tempo=$((140 + jitter)); e=$(calc "30 / $tempo")
      local riff=(0 0 12 0 5 5 3 3)
      for i in "${!riff[@]}"; do
        n=$((riff[i] + key - 33))
        chain+=(synth "$e" sawtooth "%$n" fade 0 "$e" 0.03 :)
        case $i in
          0|4) drum+=(synth 0.12 sine 120:45 fade 0 0.12 0.1 pad 0 "$(calc "$e - 0.12")" :) ;;
          2|6) drum+=(synth 0.10 whitenoise lowpass 5000 fade 0 0.1 0.09 pad 0 "$(calc "$e - 0.10")" :) ;;
          *) drum+=(synth 0.03 whitenoise highpass 6000 fade 0 0.03 0.025 pad 0 "$(calc "$e - 0.03")" :) ;;
        esac
      done
      "${SOX[@]}" -n -r $rate -c 1 "$w/tone.wav" "${chain[@]::${#chain[@]}-1}"
      "${SOX[@]}" "$w/tone.wav" "$w/tone2.wav" overdrive 18 lowpass 3500 gain -n -3
      "${SOX[@]}" -n -r $rate -c 1 "$w/drum.wav" "${drum[@]::${#drum[@]}-1}"
      "${SOX[@]}" -m "$w/tone2.wav" "$w/drum.wav" "$w/bar.wav"
      ;;
    folk)
      tempo=$((90 + jitter)); e=$(calc "30 / $tempo")
      local arp=(0 4 7 12 7 4 -5 4)
      for i in "${!arp[@]}"; do
        n=$((arp[i] + key - 9))
        chain+=(synth "$e" pluck "%$n" :)
      done
      "${SOX[@]}" -n -r $rate -c 1 "$w/bar.wav" "${chain[@]::${#chain[@]}-1}"
      ;;
    electronic)
      tempo=$((126 + jitter)); e=$(calc "30 / $tempo")
      local bass=(0 12 0 12 -2 10 -2 10)
      for i in "${!bass[@]}"; do
        n=$((bass[i] + key - 33))
        chain+=(synth "$e" square "%$n" lowpass 900 fade 0 "$e" 0.02 :)
        if ((i % 2 == 0)); then
          drum+=(synth 0.14 sine 150:50 fade 0 0.14 0.12 pad 0 "$(calc "$e - 0.14")" :)
        else
          drum+=(synth 0.05 whitenoise highpass 8000 fade 0 0.05 0.045 pad 0 "$(calc "$e - 0.05")" :)
        fi
      done
      "${SOX[@]}" -n -r $rate -c 1 "$w/tone.wav" "${chain[@]::${#chain[@]}-1}"
      "${SOX[@]}" -n -r $rate -c 1 "$w/drum.wav" "${drum[@]::${#drum[@]}-1}"
      "${SOX[@]}" -m "$w/tone.wav" "$w/drum.wav" "$w/bar.wav"
      ;;
    ballad)
      tempo=$((66 + jitter)); e=$(calc "120 / $tempo")   # half notes
      local pad=(0 9 5 7)
      for i in "${!pad[@]}"; do
        n=$((pad[i] + key - 9))
        chain+=(synth "$e" sine "%$n" tremolo 5 40 fade 0.2 "$e" 0.3 :)
      done
      "${SOX[@]}" -n -r $rate -c 1 "$w/tone.wav" "${chain[@]::${#chain[@]}-1}"
      "${SOX[@]}" "$w/tone.wav" "$w/bar.wav" reverb 60
      ;;
  esac
  # Enough bars for the clip, then the level.
  local bar_len reps
  bar_len=$(soxi -D "$w/bar.wav")
  reps=$(awk "BEGIN { r = int($clip / $bar_len) + 1; print r }")
  "${SOX[@]}" "$w/bar.wav" "$dst" repeat "$reps" gain -n -6
}

# Reads genre<TAB>line files into pools: pool_<lang>_<genre>[i].
for lang in "${langs[@]}"; do
  for g in "${genres[@]}"; do
    mapfile -t lines < <(grep -v '^#' "$here/sample/lyrics_$lang.tsv" | awk -F'\t' -v g="$g" '$1 == g { print $2 }')
    ((${#lines[@]} == 8)) || { echo "make-sample.sh: expected 8 $lang lines for $g, found ${#lines[@]}" >&2; exit 2; }
    for i in 0 1 2 3 4 5 6 7; do printf '%s\n' "${lines[i]}"; done >"$tmp/work/pool_${lang}_$g.txt"
  done
  grep -v '^#' "$here/sample/lyrics_$lang.tsv" | awk -F'\t' '$1 == "chorus" { print $2 }' >"$tmp/work/chorus_$lang.txt"
  (($(wc -l <"$tmp/work/chorus_$lang.txt") == 4)) || { echo "make-sample.sh: expected 4 $lang chorus lines" >&2; exit 2; }
done

csvq() { local s=${1//\"/\"\"}; printf '"%s"' "$s"; }

printf 'id,audio,lyrics,language,genre\n' >"$tmp/manifest.csv"
for lang in "${langs[@]}"; do printf 'id,title,genre,lyrics\n' >"$tmp/lyrics_$lang.csv"; done

li=0
for lang in "${langs[@]}"; do
  for g in "${genres[@]}"; do
    mkdir -p "$tmp/gtzan/$g"
    mapfile -t pool <"$tmp/work/pool_${lang}_$g.txt"
    mapfile -t chorus <"$tmp/work/chorus_$lang.txt"
    for ((j = 0; j < songs; j++)); do
      id=$(printf '%s_%s_%02d' "$lang" "$g" "$j")
      # Genre lines j, j+3, j+5 (mod 8): distinct songs that share some lines, like real verses
      # do; then two of the language's chorus lines, the vocabulary every song of a language shares.
      text="${pool[j]}"$'\n'"${pool[(j + 3) % 8]}"$'\n'"${pool[(j + 5) % 8]}"
      text+=$'\n'"${chorus[j % 4]}"$'\n'"${chorus[(j + 2) % 4]}"
      title=${pool[j]%%,*}
      w="$tmp/work/$id"
      mkdir -p "$w"
      printf '%s\n' "$text" >"$w/lyrics.txt"
      espeak-ng -v "$lang" -s 150 -a 120 -f "$w/lyrics.txt" -w "$w/speech_raw.wav"
      "${SOX[@]}" "$w/speech_raw.wav" -r $rate -c 1 "$w/speech.wav" pad 0.3 0 gain -n -6
      backing "$g" $((j + 8 * li)) "$w/backing.wav" "$w"
      "${SOX[@]}" -m -v 0.8 "$w/backing.wav" -v 0.7 "$w/speech.wav" -b 16 "$tmp/gtzan/$g/$id.wav" \
        trim 0 $clip gain -n -1
      printf '%s,%s,%s,%s,%s\n' "$id" "gtzan/$g/$id.wav" "$(csvq "$text")" "$lang" "$g" >>"$tmp/manifest.csv"
      printf '%s,%s,%s,%s\n' "$id" "$(csvq "$title")" "$g" "$(csvq "$text")" >>"$tmp/lyrics_$lang.csv"
      rm -rf "$w"
    done
  done
  li=$((li + 1))
done
rm -rf "$tmp/work"

n=$((2 * ${#genres[@]} * songs))
cat >"$tmp/SAMPLE.txt" <<EOF
hmr generated sample (data/make-sample.sh): lyrics written for hmr, spoken by espeak-ng over
sox backing tracks whose style encodes the genre. Free of copyright; regenerate rather than edit.
songs_per_genre_language: $songs
tracks: $n
languages: ${langs[*]}
genres: ${genres[*]}
clip: ${clip} s, ${rate} Hz, mono, 16-bit PCM
EOF

rm -rf "$out"
mv "$tmp" "$out"
echo "make-sample.sh: $n tracks in $out (manifest.csv, lyrics_bn.csv, lyrics_en.csv, gtzan/)"
