// Loads a product's reviews from /api/reviews/<id>.json into #reviews.
// Plain HTTP scrapers never see the reviews: they are not in the page's HTML.
(function () {
  const box = document.getElementById("reviews");
  if (!box) return;
  const stars = (n) => "★".repeat(n) + "☆".repeat(5 - n);
  const el = (tag, cls, text) => {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  };
  fetch("/api/reviews/" + box.dataset.productId + ".json")
    .then((response) => {
      if (!response.ok) throw new Error("HTTP " + response.status);
      return response.json();
    })
    .then((data) => {
      box.querySelector(".reviews-loading").remove();
      if (!data.reviews.length) {
        box.appendChild(el("p", "no-reviews", "No reviews yet."));
      } else {
        box.appendChild(el("p", "reviews-summary", data.average.toFixed(1) + " out of 5 (" + data.count + " reviews)"));
        for (const review of data.reviews) {
          const item = el("article", "review");
          item.dataset.reviewId = review.id;
          const head = el("header");
          const rating = el("span", "review-rating", stars(review.rating));
          rating.dataset.rating = String(review.rating);
          head.append(rating, " ", el("strong", "review-title", review.title));
          const meta = el("p", "review-meta");
          const when = el("time", "review-date", review.date);
          when.setAttribute("datetime", review.date);
          meta.append(el("span", "review-author", review.author), " · ", when);
          item.append(head, meta, el("p", "review-body", review.body));
          box.appendChild(item);
        }
      }
      box.dataset.state = "loaded";
    })
    .catch((error) => {
      box.querySelector(".reviews-loading").textContent = "Reviews are unavailable (" + error.message + ").";
      box.dataset.state = "error";
    });
})();
