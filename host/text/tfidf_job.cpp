// text/tfidf_job.cpp — `hmr tfidf` as a library call (see tfidf_job.h).
#include "text/tfidf_job.h"

#include <map>

#include "core/error.h"
#include "core/timer.h"
#include "io/atomic_file.h"
#include "io/npy.h"

namespace hmr::text {

MatrixFormat parse_matrix_format(std::string_view name) {
  if (name == "npz") return MatrixFormat::npz;
  if (name == "npy") return MatrixFormat::npy;
  if (name == "both") return MatrixFormat::both;
  input_error("unknown matrix format '{}' (expected npz, npy or both)", name);
}

TfidfJobResult run_tfidf_job(Backend& backend, const TfidfJob& job) {
  HMR_REQUIRE(!job.out.empty(), "tfidf: no output directory (--out DIR)");
  io::ensure_output_dir(job.out);
  TfidfJobResult r;
  StageTimings timings;
  {
    ScopedStage st(&timings, "read");
    r.corpus = read_lyrics(job.sources, job.read);
  }
  HMR_REQUIRE(r.corpus.size() > 0, "tfidf: the lyrics files hold no non-empty text ({} rows skipped)",
              r.corpus.skipped.size());
  {
    ScopedStage st(&timings, job.model_dir.empty() ? "fit_transform" : "transform");
    if (job.model_dir.empty()) {
      r.matrix = fit_transform(backend, r.corpus.docs, job.tfidf, r.model, &r.stats);
    } else {
      r.model = load_model(job.model_dir);
      r.matrix = transform(backend, r.model, r.corpus.docs, &r.stats);
    }
  }
  {
    ScopedStage st(&timings, "write");
    if (job.format != MatrixFormat::npy) write_npz(job.out / "tfidf.npz", r.matrix);
    if (job.format != MatrixFormat::npz) io::write_npy(job.out / "tfidf.npy", to_dense(r.matrix));
    save_model(job.out, r.model);
    io::write_npy(job.out / "labels.npy", r.corpus.labels);
    io::write_atomically(job.out / "label_names.txt", [&](std::ostream& os) {
      for (const auto& n : r.corpus.label_names) os << n << '\n';
    });
    io::write_atomically(job.out / "documents.tsv", [&](std::ostream& os) {
      os << "row\tlabel\tfile\tline\n";
      for (std::size_t d = 0; d < r.corpus.docs.size(); ++d)
        os << d << '\t' << r.corpus.label_names[static_cast<std::size_t>(r.corpus.labels[d])] << '\t'
           << r.corpus.files[d] << '\t' << r.corpus.lines[d] << '\n';
    });
  }
  // Summary: per-language documents, tokens and empty rows.
  std::map<std::string, std::int64_t> docs_per, tokens_per, empty_per;
  for (std::size_t d = 0; d < r.corpus.docs.size(); ++d) {
    const std::string& lang = r.corpus.label_names[static_cast<std::size_t>(r.corpus.labels[d])];
    ++docs_per[lang];
    tokens_per[lang] += r.stats.tokens[d];
    const bool empty = r.matrix.indptr[d + 1] == r.matrix.indptr[d];
    empty_per[lang] += empty ? 1 : 0;
  }
  nlohmann::json skipped = nlohmann::json::array();
  for (const auto& s : r.corpus.skipped)
    skipped.push_back({{"file", s.file}, {"line", s.line}, {"id", s.id}, {"reason", to_string(s.reason)}});
  nlohmann::json t = nlohmann::json::object();
  for (const auto& [name, sec] : timings.items()) t[name] = sec;
  r.summary = {{"documents", r.corpus.size()},
               {"vocabulary_size", r.model.vocabulary.size()},
               {"nnz", r.matrix.nnz()},
               {"empty_rows", r.stats.empty_rows},
               {"skipped_rows", r.corpus.skipped.size()},
               {"skipped", skipped},
               {"replaced_invalid_utf8", r.corpus.replaced_utf8},
               {"labels", r.corpus.label_names},
               {"documents_per_language", docs_per},
               {"tokens_per_language", tokens_per},
               {"empty_rows_per_language", empty_per},
               {"mode", job.model_dir.empty() ? "fit" : "transform"},
               {"device", backend.name()},
               {"options", nlohmann::json::parse(options_to_json(r.model.options))},  // as applied
               {"timings_s", t}};
  io::write_atomically(job.out / "summary.json", [&](std::ostream& os) { os << r.summary.dump(2) << '\n'; });
  return r;
}

}  // namespace hmr::text
