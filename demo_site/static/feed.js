// Infinite scroll: when #feed-sentinel comes into view, fetch the next batch of
// stories from the JSON endpoint in #feed's data-next and append them.
(function () {
  const feed = document.getElementById("feed");
  const sentinel = document.getElementById("feed-sentinel");
  if (!feed || !sentinel) return;
  let busy = false;
  const item = (story) => {
    const li = document.createElement("li");
    li.className = "feed-item";
    li.dataset.articleId = String(story.id);
    const link = document.createElement("a");
    link.className = "feed-link";
    link.href = story.url;
    link.textContent = story.title;
    const section = document.createElement("span");
    section.className = "feed-section";
    section.textContent = story.section;
    const when = document.createElement("time");
    when.setAttribute("datetime", story.published);
    when.textContent = story.published_text;
    const dek = document.createElement("p");
    dek.className = "feed-dek";
    dek.textContent = story.dek;
    li.append(link, " ", section, " ", when, dek);
    return li;
  };
  const loadMore = () => {
    const next = feed.dataset.next;
    if (busy || !next) return;
    busy = true;
    feed.dataset.state = "loading";
    fetch(next)
      .then((response) => response.json())
      .then((page) => {
        for (const story of page.items) feed.appendChild(item(story));
        feed.dataset.next = page.next || "";
        feed.dataset.state = page.next ? "more" : "done";
        if (!page.next) sentinel.textContent = "You have reached the end.";
      })
      .catch(() => { feed.dataset.state = "error"; })
      .finally(() => { busy = false; if (feed.dataset.next && visible()) loadMore(); });
  };
  const visible = () => sentinel.getBoundingClientRect().top < window.innerHeight + 200;
  new IntersectionObserver((entries) => {
    if (entries.some((entry) => entry.isIntersecting)) loadMore();
  }, { rootMargin: "200px" }).observe(sentinel);
})();
