import streamlit as st

st.title("Training runner")
st.info("Train a model in the background with live loss and accuracy curves, then see the test metrics, confusion matrix, ROC curves and mistakes.\n\nSaved runs can be overlaid and compared (optimizers, schedules, depth, regularization).\n\n*Coming soon.*")
