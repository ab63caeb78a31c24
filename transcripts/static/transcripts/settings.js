// The settings page: copy a new token or secret (shown once) to the clipboard.
document.querySelectorAll("[data-copy]").forEach((button) => {
  button.addEventListener("click", () => {
    const text = document.getElementById(button.dataset.copy).textContent;
    navigator.clipboard.writeText(text).then(() => { button.textContent = "Copied"; },
                                             () => { button.textContent = "Select and copy"; });
  });
});
