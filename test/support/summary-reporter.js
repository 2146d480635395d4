// Ends the run with one plain line, "Tests: N passed, N failed[, N skipped]", for CI logs.
class SummaryReporter {
  onRunComplete(_contexts, results) {
    const skipped = results.numPendingTests + results.numTodoTests;
    const suffix = skipped > 0 ? `, ${skipped} skipped` : '';
    process.stdout.write(`\nTests: ${results.numPassedTests} passed, ${results.numFailedTests} failed${suffix}\n`);
  }
}

module.exports = SummaryReporter;
